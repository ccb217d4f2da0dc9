"""Interoperability with the field's toolchain: le-wm / stable-worldmodel checkpoints in and out.

- :mod:`world_model.interop.lewm_layout`: their state-dict key names and ``config.json`` <-> ours (pure mappings).
- :mod:`world_model.interop.lewm_files`: reading their files (weights only, never unpickled code) and writing them.
- :mod:`world_model.interop.cli`: the ``lewm-import`` and ``lewm-export`` commands.
"""
