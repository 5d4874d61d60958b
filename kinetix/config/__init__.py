"""MMAction2-style Python config files: loading with ``_base_``, ``--cfg-options``, dumping.

Configs are plain nested dicts; there is no Config class. Typical use::

    cfg = load_config("configs/recognition/tsn/tsn_r50.py")
    apply_cfg_options(cfg, parse_cfg_options(args.cfg_options or []))
    dump_config(cfg, os.path.join(work_dir, "tsn_r50.py"))
"""

from kinetix.config.dump import config_text, dump_config
from kinetix.config.loader import format_key_path, load_config, merge_config, read_text
from kinetix.config.options import apply_cfg_options, parse_cfg_options

__all__ = [
    "apply_cfg_options",
    "config_text",
    "dump_config",
    "format_key_path",
    "load_config",
    "merge_config",
    "parse_cfg_options",
    "read_text",
]
