"""Facts about stored models, compared and queried offline.

Layers, lowest first: ``normalize``, ``safetensors_header``, ``derived``,
``expression`` (pure); ``index`` (the sqlite file) and ``hub_params`` (Hub
range requests); ``_store`` (the one adapter to the localizer); ``compare`` and
``api`` on top.
"""
