"""``lewm-import``: a le-wm / stable-worldmodel checkpoint -> our checkpoint; ``lewm-export``: the reverse.

    lewm-import ~/hf/lewm-pusht --out checkpoints/lewm_pusht       # weights.pt + config.json
    lewm-import pusht/lewm_weight.ckpt --out checkpoints/lewm_pusht  # the older Drive archive's state dict
    lewm-export checkpoints/lewm_pusht --out their/lewm_pusht        # for stable-worldmodel's load_pretrained
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.cli_checks import check_at_least, check_output_folder
from common.cli_errors import UserInputError, run_cli
from common.cli_help import essentials, help_style
from world_model.interop.lewm_layout import VIT_LAYOUTS


def _floats(text: str) -> list:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _check_out(out: Path, force: bool) -> None:
    check_output_folder(out, "--out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserInputError(f"--out {out} exists and is not empty; pass --force to overwrite its checkpoint files")


def build_import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**{**help_style("lewm-import", __doc__), "description": (
        "lewm-import: convert a le-wm / stable-worldmodel LeWM checkpoint (weights.pt + config.json, or a\n"
        "*_weight.ckpt state dict) into a checkpoint of ours for lewm-plan, lewm-eval and the agent.\n"
        "Reads tensors only; never unpickles code (*_object.ckpt is refused).")})
    first = essentials(p)
    first.add_argument("source", metavar="DIR_OR_FILE", help="folder with weights.pt + config.json, or a weights file")
    first.add_argument("--out", required=True, metavar="DIR",
                       help="our checkpoint folder to write (config.yaml + model.safetensors)")
    first.add_argument("--task", default=None, help="our task the model was trained on (pusht, cube, tworoom, "
                       "reacher, ...); default: a task named in the source path, else none")
    model = p.add_argument_group("what the checkpoint does not record")
    model.add_argument("--frameskip", type=int, default=5, metavar="N",
                       help="env steps per action block (the action encoder takes frameskip x action_dim values)")
    model.add_argument("--action-mean", type=_floats, default=None, metavar="X,Y,...",
                       help="per-dimension mean of the raw actions the model was trained on (comma-separated); "
                            "le-wm z-scores actions with its dataset's statistics. Default: 0")
    model.add_argument("--action-std", type=_floats, default=None, metavar="X,Y,...",
                       help="per-dimension std of those actions (comma-separated). Default: 1")
    p.add_argument_group("output").add_argument("--force", action="store_true",
                                                help="overwrite a non-empty --out folder")
    return p


def _import(argv) -> int:
    args = build_import_parser().parse_args(argv)
    check_at_least(args, 1, "frameskip")
    out = Path(args.out)
    _check_out(out, args.force)
    from world_model.interop.lewm_files import read_their_checkpoint

    model, notes = read_their_checkpoint(args.source, frameskip=args.frameskip, task=args.task,
                                         action_mean=args.action_mean, action_std=args.action_std)
    model.save(out)
    for note in notes:
        print(f"lewm-import: {note}", file=sys.stderr)
    cfg = model.cfg
    print(f"wrote {out}: ViT {cfg.image_size} px / patch {cfg.patch_size}, latent {cfg.embed_dim}, history "
          f"{cfg.history_size}, action block {cfg.frameskip} x {cfg.action_dim}, task {cfg.task or '(none)'}, "
          f"{model.num_parameters()['total'] / 1e6:.1f} M parameters")
    if not cfg.task:
        print("lewm-import: no task named in the source path and no --task: lewm-plan, lewm-eval and the agent "
              "refuse a checkpoint that names none; import again with --task NAME --force", file=sys.stderr)
    if cfg.action_mean is None:
        print("lewm-import: no --action-mean/--action-std given: actions are taken as already z-scored (le-wm "
              "normalises them with its dataset's statistics)", file=sys.stderr)
    return 0


def build_export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**{**help_style("lewm-export", __doc__), "description": (
        "lewm-export: write a checkpoint of ours (ViT encoder) as le-wm / stable-worldmodel's weights.pt +\n"
        "config.json, loadable by stable_worldmodel.wm.utils.load_pretrained.")})
    first = essentials(p)
    first.add_argument("checkpoint", metavar="DIR", help="our checkpoint folder (config.yaml + model.safetensors)")
    first.add_argument("--out", required=True, metavar="DIR", help="folder to write weights.pt and config.json into")
    layout = p.add_argument_group("format")
    layout.add_argument("--vit-layout", choices=VIT_LAYOUTS, default="transformers4",
                        help="Hugging Face ViT key names: transformers4 (transformers 4.x, the published checkpoints) "
                             "or transformers5 (transformers 5.x)")
    p.add_argument_group("output").add_argument("--force", action="store_true",
                                                help="overwrite a non-empty --out folder")
    return p


def _export(argv) -> int:
    args = build_export_parser().parse_args(argv)
    out = Path(args.out)
    _check_out(out, args.force)
    from world_model.interop.lewm_files import write_their_checkpoint
    from world_model.model.lewm import LeWM

    model = LeWM.load(args.checkpoint)
    dropped = write_their_checkpoint(model, out, args.vit_layout)
    if dropped:
        print(f"lewm-export: left out {len(dropped)} training-only weight(s) their LeWM lacks ({dropped[0]}, ...)",
              file=sys.stderr)
    print(f"wrote {out}/weights.pt and {out}/config.json ({args.vit_layout} ViT keys)")
    return 0


def import_main(argv=None) -> int:
    return run_cli("lewm-import", _import, argv)


def export_main(argv=None) -> int:
    return run_cli("lewm-export", _export, argv)


if __name__ == "__main__":
    sys.exit(import_main())
