"""Browser tests against the development stack."""
