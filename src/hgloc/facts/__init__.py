"""Facts about stored models, compared and queried offline.

Layers, lowest first: ``normalize``, ``safetensors_header``, ``sidecar``,
``derived``, ``expression``, ``compare`` (pure); ``index`` (the sqlite file),
``hub_params`` (Hub range requests) and ``_store`` (the one adapter to the
localizer); ``collect`` (keeps the index current); ``api`` on top.
"""
