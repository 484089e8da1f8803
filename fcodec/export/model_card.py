"""A model card (``README.md`` with Hugging Face front matter) beside an ONNX export, so that the folder can be
published as it is: rates and latency, the model it was grown from, training corpora and hours, its rows of
RESULTS.md, and the licences of the weights it derives from.

What the card says about training comes from the run's own records next to the model folder
(``<run>/init.json``, ``<run>/train_summary.json``, ``<run>/config.yaml`` of its training run, and the training
cuts it names); what cannot be found is said to be unknown, never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from fcodec.utils.io import atomic_write_text

__all__ = ["write_model_card", "results_rows", "training_hours"]

# The published FocalCodec checkpoints (lucadellalib/focalcodec_*) are released under Apache-2.0; their encoder
# starts from WavLM-Large (microsoft/unilm, MIT). A fine-tuned model derives from both.
LICENCES = (
    "Weights derived from the FocalCodec checkpoints (lucadellalib/focalcodec_*, Apache-2.0), whose encoder "
    "derives from WavLM-Large (microsoft/unilm, MIT). Check the licences of your training corpora before "
    "publishing."
)


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _round(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "unknown"


def results_rows(results: Union[str, Path], name: str) -> List[str]:
    """The lines of every table of ``results`` (RESULTS.md) whose rows name ``name`` (e.g. ``train_50hz``): the
    table's header, separator and those rows, with the heading above the table."""
    try:
        lines = Path(results).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out: List[str] = []
    heading = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i]
        if lines[i].startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            table = [lines[i], lines[i + 1]]
            i += 2
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if name in lines[i]:
                    rows.append(lines[i])
                i += 1
            if rows:
                out += ([heading, ""] if heading else []) + table + rows + [""]
            continue
        i += 1
    return out


def _cut_sources(cuts_dir: Path) -> Dict[str, str]:
    """Cut id -> ``<corpus>_<part>``, from the per-source cut sets stage 2 writes beside the splits."""
    from lhotse import CutSet

    sources = {}
    for path in sorted((cuts_dir / "sources").glob("*.jsonl.gz")):
        name = path.name[: -len(".jsonl.gz")]
        sources.update(dict.fromkeys((cut.id for cut in CutSet.from_file(path)), name))
    return sources


def training_hours(run_dir: Path) -> Optional[Dict[str, float]]:
    """Hours of training audio per corpus part (``aishell_train (zh)``; the language alone where stage 2's
    per-source cut sets are missing), from the training cuts named in ``<run_dir>/config.yaml``."""
    import yaml

    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    cuts_path = Path(str((config.get("data") or {}).get("train_cuts", "")))
    candidates = [cuts_path] if cuts_path.is_absolute() else [Path.cwd() / cuts_path, run_dir.parents[1] / cuts_path]
    for path in candidates:
        if path.is_file():
            from lhotse import CutSet

            sources = _cut_sources(path.parent)
            hours: Dict[str, float] = {}
            for cut in CutSet.from_file(path):
                language = next((s.language for s in cut.supervisions if s.language), None) or "unknown"
                key = f"{sources[cut.id]} ({language})" if cut.id in sources else language
                hours[key] = hours.get(key, 0.0) + cut.duration / 3600
            return {k: round(v, 3) for k, v in sorted(hours.items())}
    return None


def write_model_card(
    folder: Union[str, Path],
    meta: Dict[str, Any],
    results: Optional[Union[str, Path]] = None,
) -> Path:
    """Write ``<folder>/README.md`` for the export described by ``meta`` (``onnx_codec.json``); returns its path.

    Parameters
    ----------
    folder : str or Path
        The export folder.
    meta : dict
        The export's description (``export_codec`` returns it).
    results : str or Path, optional
        The run's RESULTS.md: the rows naming this model's training run go into the card.
    """
    folder = Path(folder)
    model = meta["model"]
    source = Path(meta["source"]["folder"])
    run_dir = source.parent if source.name == "best" else source
    run_name = run_dir.name  # train_<rate>: the model's name in RESULTS.md
    init = _read_json(run_dir / "init.json") or {}
    summary = _read_json(run_dir / "train_summary.json") or {}
    hours = training_hours(run_dir)
    grown_from = init.get("init_from") or summary.get("init_from") or "unknown (no init.json beside the model)"
    if init.get("grown_layer_pairs"):  # a grown run: the frame rate halved per layer pair added
        grown_from += f" (grown by {init['grown_layer_pairs']} layer pair(s))"
    corpora = ", ".join(f"{k}: {v} h" for k, v in hours.items()) if hours else "unknown (training cuts not found)"
    streaming = "stream_encode" in meta["graphs"]
    int8 = all("int8_file" in g for g in meta["graphs"].values())
    lines = [
        "---",
        "license: apache-2.0",
        "library_name: onnx",
        "pipeline_tag: audio-to-audio",
        "tags: [audio, speech, neural-codec, focalcodec, onnx" + (", streaming" if streaming else "") + "]",
        "---",
        "",
        f"# {run_name} (FocalCodec, ONNX)",
        "",
        f"Speech codec at **{model['frame_rate']:g} Hz** tokens from a {model['codebook_size']}-entry codebook: "
        f"**{model['bitrate']:g} bps**; 16 kHz in, {model['sample_rate_output'] / 1000:g} kHz out."
        + (f" Streaming: {model['latency_ms']:g} ms chunks (algorithmic latency)." if streaming else ""),
        "",
        "| | |",
        "| --- | --- |",
        f"| frame rate | {model['frame_rate']:g} Hz |",
        f"| bitrate | {model['bitrate']:g} bps |",
        f"| latency | {'%g ms' % model['latency_ms'] if model['latency_ms'] else 'offline only'} |",
        f"| started from | {grown_from} |",
        f"| training audio | {corpora} |",
        f"| training steps | {summary.get('steps', 'unknown')} (best dev loss {_round(summary.get('best_dev_loss'))}) |",
        f"| source weights | {meta['source']['weights']} sha256 {meta['source']['sha256']} |",
        f"| exported with | fcodec {meta['fcodec_version']}, ONNX opset {meta['opset']} |",
        "",
        "## Files",
        "",
        "`encode.onnx` (waveform -> tokens, latents), `decode.onnx` (tokens -> waveform)"
        + (", `stream_encode.onnx` / `stream_decode.onnx` (one chunk, state in and out)" if streaming else "")
        + (", each also as `*.int8.onnx`" if int8 else "")
        + "; `onnx_codec.json` lists every input, output and state shape.",
        "",
        "```python",
        "from fcodec.export import OnnxCodec",
        "codec = OnnxCodec('.')",
        "tokens, latents = codec.encode(signal)  # (B, N) float32 at 16 kHz",
        "audio = codec.decode(tokens)",
        "```",
        "",
    ]
    rows = results_rows(results, run_name) if results else []
    if rows:
        lines += ["## Results", "", *rows]
    lines += ["## Licence", "", LICENCES, ""]
    return atomic_write_text(folder / "README.md", "\n".join(lines))
