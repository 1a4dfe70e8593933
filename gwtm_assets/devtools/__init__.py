"""Developer tools, not the product: the GWTM API double (``gwtm-cron dev-api``), the demo (``make demo``) and the
local broker, daemon and synthetic catalogs they start.

They need a source checkout (the samples, ``dagster.yaml``, ``workspace.yaml``) and the ``dev-tools`` extra; the
image leaves this package out (``.dockerignore``). The product never imports it except from those two commands.
"""
