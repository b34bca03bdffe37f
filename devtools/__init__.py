"""Development tools: the ``scripts/develop`` stack (simulators plus Home Assistant).

- :mod:`devtools.develop`: the command line, the configuration directory and
  the processes (the simulator stack and ``hass``);
- :mod:`devtools.bootstrap`: what a person would click on a fresh Home
  Assistant, done over its REST and websocket APIs (onboarding, a token, the
  Slimme Meter entry, the Energy dashboard);
- :mod:`devtools.hass`: a small client for those APIs;
- :mod:`devtools.install_check`: a release of Home Assistant installed as a
  user installs it, with the integration added over REST
  (``scripts/test install``).
"""
