"""Static and quick checks of the recipes: --help, option errors, stages missing their inputs, links, lint."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.data.helpers import MINI_RECIPE, REAL_RECIPE, REPO, TEMPLATE, run_recipe

RECIPES = [MINI_RECIPE, REAL_RECIPE]


def run(recipe: Path, *args):
    return run_recipe(recipe, *args, check=False, timeout=120)


def declared_before_parsing(script: Path):
    """Top-level variables a script sets before it sources parse_options.sh: its options.

    Names starting with "_" are the script's own bookkeeping, and option_names is parse_options' input."""
    names = []
    for line in script.read_text().splitlines():
        if "utils/parse_options.sh" in line and line.lstrip().startswith("."):
            return names
        match = re.match(r"([a-z][a-z0-9_]*)=", line)  # options are lower case (SECONDS is bash's)
        if match and match.group(1) != "option_names":
            names.append(match.group(1))
    raise AssertionError(f"{script} does not source utils/parse_options.sh")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.parent.name)
def test_help_lists_the_stages_and_every_option_with_its_value(recipe):
    out = run(recipe, "--help")
    assert out.returncode == 0, out.stderr
    for stage in range(9):
        assert re.search(rf"^\s+{stage}\s+\S", out.stdout, re.M), f"stage {stage} missing from --help"
    names = declared_before_parsing(TEMPLATE / "codec.sh")
    data_names = declared_before_parsing(recipe / "local" / "data.sh")
    corpus = [n for n in data_names if n not in {"stage", "stop_stage", "nj", "dl_dir", "manifest_dir", "force"}]
    assert len(names) > 15 and corpus
    for name in names + corpus:
        shown = re.sub(r"(?<=\d)_(?=\d)", ".", name).replace("_", "-")  # train_12_5hz_config: --train-12.5hz-config
        assert re.search(rf"--{re.escape(shown)} \"[^\"]*\"", out.stdout), f"--{shown} missing from --help"
    # local/data.sh has a help of its own, with every one of its options
    data_help = subprocess.run(["local/data.sh", "--help"], cwd=recipe, capture_output=True, text=True)
    assert data_help.returncode == 0
    assert all(f"--{n.replace('_', '-')} " in data_help.stdout for n in data_names)


def test_help_shows_the_recipe_defaults_and_earlier_options():
    mini = run(MINI_RECIPE, "--help").stdout
    assert '--hours "zh=0.05 en=0.05"' in mini and '--bpe-vocab-size "600"' in mini
    real = run(REAL_RECIPE, "--help").stdout
    assert '--hours "zh=100 en=100"' in real and '--librispeech-parts "train-clean-100 dev-clean test-clean"' in real
    assert '--hours "zh=100 en=7"' in run(REAL_RECIPE, "--hours", "zh=100 en=7", "--help").stdout
    assert '--train-12.5hz-config "conf/train_25hz.yaml conf/train_12.5hz.yaml"' in real
    # the old per-language options are gone: one option for any language the data config names
    assert "--zh-hours" not in real and "stage0" not in real and "stage1" not in real


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--bogus", "1"], 1, "invalid option --bogus"),
        (["--stage=3"], 1, "must be of the form --name value"),
        (["--force", "yes"], 1, "takes true or false"),
        (["--stage", "2", "extra"], 2, "positional arguments are not accepted"),
        # values are checked before any stage runs: never a bash error half way, nor a run that does nothing
        (["--stage", "abc"], 1, "--stage must be an integer from 0 to 8, got 'abc'"),
        (["--stage", "9"], 1, "--stage must be an integer from 0 to 8, got '9'"),
        (["--stage", "5", "--stop-stage", "3"], 1, "--stop-stage 3 is before --stage 5: no stage would run"),
        (
            ["--hours", "zh=-1 en=1"],
            1,
            "--hours 'zh=-1 en=1': --hours 'zh=-1': hours must be a positive number or 'all'",
        ),
        (["--hours", "fr=10"], 1, "--hours takes LANG=HOURS with LANG in ['zh', 'en'], got 'fr=10'"),
        (["--zh-hours", "1"], 1, "invalid option --zh-hours"),
        (["--num-nodes", "2"], 1, "--num-nodes 2 needs --rdzv-endpoint host:port"),
        (["--bpe-model-type", "char"], 1, '--bpe-model-type must be one of "bpe" "unigram", got \'char\''),
        (["--tag", "../elsewhere"], 1, "--tag must be a folder name"),
        (["--tag", "train_25hz"], 1, "--tag must be a folder name"),
        (["--tag", "pretrained"], 1, "--tag must be a folder name"),
        (["--posthoc-presets", "50hz_half_275bps"], 1, "--posthoc-presets: unknown post-hoc preset '50hz_half_275bps'"),
        (["--posthoc-presets", "50hz_6bit_250bps"], 1, "advertises 250 bps but gives 300 bps"),
        (["--posthoc-models", "train_7hz"], 1, "--posthoc-models: 'train_7hz' is not a model of stages 7-8"),
    ],
)
def test_bad_command_lines_fail_clearly(args, code, message):
    for recipe in RECIPES:
        out = run(recipe, *args)
        assert out.returncode == code and message in out.stderr, out.stderr
        # the messages name the script the user ran (as typed, here from the repository root), not the shared
        # codec.sh it runs
        assert (
            f"ee ./{recipe.relative_to(REPO)}/run.sh --help" in out.stderr or code == 1 and "--help" not in out.stderr
        )
        assert "codec.sh --help" not in out.stderr and not out.stderr.startswith("codec.sh")


def test_a_tag_moves_training_decoding_and_results_into_its_own_folder():
    help_text = run(REAL_RECIPE, "--exp-dir", "exp", "--tag", "asr40", "--help").stdout
    assert "-> exp/asr40/train_50hz" in help_text and "-> exp/asr40/<model>/decode/<test_set>" in help_text
    assert "exp/asr40/RESULTS.md and its plot" in help_text
    assert "-> data/cuts" in help_text  # the data stages are shared by every tag
    assert "RESULTS.md and its plot" in run(REAL_RECIPE, "--help").stdout


@pytest.mark.parametrize("stage", [7, 8])
def test_evaluation_stages_without_their_inputs_fail_clearly(stage, tmp_path):
    out = run(
        MINI_RECIPE,
        "--stage",
        str(stage),
        "--stop_stage",
        str(stage),
        "--data-dir",
        str(tmp_path / "data"),
        "--exp-dir",
        str(tmp_path / "exp"),
    )
    assert out.returncode != 0
    missing = f"test set test_aishell: {tmp_path}/data/cuts/test_aishell.jsonl.gz not found (stage 2 writes it)"
    assert missing in out.stderr


def test_recipes_link_to_the_template_with_relative_links():
    for recipe in RECIPES:
        for name in ["codec.sh", "path.sh", "cmd.sh", "utils", "conf/slurm.conf"]:
            link = recipe / name
            assert link.is_symlink() and not os.path.isabs(os.readlink(link)), link
            assert link.resolve() == (TEMPLATE / name).resolve()
    # a recipe links to the TEMPLATE only, never into a sibling recipe: its local/ is its own, and the corpus
    # code both recipes use is the package's (fcodec.data.corpora, through utils/prepare_manifests.sh)
    for recipe in sorted(p.parent for p in (REPO / "egs").glob("*/codec1/run.sh")):
        links = [p for d in (recipe, recipe / "conf", recipe / "local") for p in d.iterdir() if p.is_symlink()]
        assert all(TEMPLATE.resolve() in [p.resolve(), *p.resolve().parents] for p in links), links
        assert not [p for p in (recipe / "local").iterdir() if p.is_symlink()]


def test_no_machine_specific_paths_in_recipe_files():
    pattern = re.compile(r"(/work/|/home/|/export/|/root/|/Users/)")
    # Only what the project ships: a recipe run here writes absolute paths into its own (ignored) outputs.
    tracked = subprocess.run(["git", "ls-files", "egs"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout: cannot tell shipped recipe files from run outputs")
    paths = [REPO / line for line in tracked.stdout.splitlines()]
    files = [
        p for p in paths if p.is_file() and not p.is_symlink() and p.suffix in {".sh", ".py", ".yaml", ".conf", ".md"}
    ]
    assert files
    assert [str(p) for p in files if pattern.search(p.read_text(encoding="utf-8"))] == []


def setup_recipe(tmp_path, name: str):
    """``utils/setup_recipe.sh egs/<name>/codec1`` in a temporary tree whose egs/TEMPLATE is the repository's:
    (egs, the new recipe folder)."""
    egs = tmp_path / "egs"
    egs.mkdir()
    (egs / "TEMPLATE").symlink_to(TEMPLATE.parent)
    out = subprocess.run(
        [str(egs / "TEMPLATE" / "codec1" / "utils" / "setup_recipe.sh"), f"egs/{name}/codec1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return egs, egs / name / "codec1"


def test_setup_recipe_makes_a_recipe_that_only_needs_its_own_parts(tmp_path):
    egs, recipe = setup_recipe(tmp_path, "newcorpus")
    (recipe / "local" / "data.sh").write_text(
        "#!/usr/bin/env bash\n#   stage 0: fetch the new corpus\n#   stage 1: its lhotse manifests\n"
        "# <corpus-options>\nnew_corpus_dir=/data/new  # where the new corpus is\n# </corpus-options>\n"
    )
    (recipe / "run.sh").write_text('#!/usr/bin/env bash\ncd "$(dirname "$0")"\nexec ./codec.sh --nj 3 "$@"\n')
    (recipe / "run.sh").chmod(0o755)
    help_text = run(recipe, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "0  fetch the new corpus" in help_text.stdout and '--new-corpus-dir "/data/new"' in help_text.stdout
    assert '--nj "3"' in help_text.stdout
    bad = subprocess.run(
        [str(egs / "TEMPLATE" / "codec1" / "utils" / "setup_recipe.sh"), str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "egs/<corpus>/codec1" in bad.stderr


def test_a_new_recipe_needs_only_run_sh_data_sh_and_data_yaml(tmp_path, monkeypatch):
    """docs/data.md, Adding a corpus: setup_recipe.sh and the mini recipe's three files, under a new name, make a
    recipe whose training stages find their configs (the TEMPLATE's defaults, linked) and start: the trainer loads
    them, layered, and stops at the first input this empty run lacks (nothing trains)."""
    egs, recipe = setup_recipe(tmp_path, "mini_copy")
    for name in ("run.sh", "local/data.sh", "conf/data.yaml"):
        shutil.copy2(MINI_RECIPE / name, recipe / name)
    own = sorted(
        os.path.relpath(os.path.join(folder, name), recipe)
        for folder, _, names in os.walk(recipe)
        for name in names
        if not os.path.islink(os.path.join(folder, name))
    )
    assert own == ["conf/data.yaml", "local/data.sh", "run.sh"]

    configs = dict(re.findall(r'--train-([\d.]+hz)-config "([^"]*)"', run(recipe, "--help").stdout))
    assert configs == {
        "50hz": "conf/train_50hz.yaml",
        "25hz": "conf/train_25hz.yaml",
        "12.5hz": "conf/train_25hz.yaml conf/train_12.5hz.yaml",
    }
    for name in {name for files in configs.values() for name in files.split()}:
        assert (recipe / name).is_symlink() and (recipe / name).resolve() == (TEMPLATE / name).resolve()

    # stages 4 and 6 with what they start from marked finished, and nothing else: each passes its own checks, logs
    # its start and runs the trainer, which refuses the missing cuts
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # path.sh puts the temporary egs/'s root first: this checkout next
    data, exp = tmp_path / "data", tmp_path / "exp"
    for marker in (data / "models" / "codec" / ".codec.done", exp / "train_25hz" / ".train.done"):
        marker.parent.mkdir(parents=True)
        marker.write_text("")
    for number, rate in [(4, "50hz"), (6, "12.5hz")]:
        out = run(recipe, "--stage", str(number), "--stop-stage", str(number), "--data-dir", data, "--exp-dir", exp)
        assert out.returncode != 0
        assert f"Stage {number}: training {rate} with {configs[rate]}, from " in out.text, out.text[-3000:]
        assert "cut manifest" in out.text and "training config" not in out.text, out.text[-3000:]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shell_scripts_pass_shellcheck():
    scripts = ["codec.sh", "path.sh", "cmd.sh", *[f"utils/{p.name}" for p in (TEMPLATE / "utils").glob("*.sh")]]
    for recipe in RECIPES:
        scripts += [str(recipe / "run.sh"), str(recipe / "local" / "data.sh")]
    out = subprocess.run(["shellcheck", "-x", "-e", "SC1091", *scripts], cwd=TEMPLATE, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_the_option_check_of_every_run_loads_no_torch(tmp_path):
    """Every ./run.sh starts with fcodec.bin.recipe_options (data config, --hours, judges, presets): it must stay
    light (no torch, about 0.2 s) for a command-line mistake to be reported at once."""
    import sys

    code = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        'exec(\'try:\\n runpy.run_module("fcodec.bin.recipe_options", run_name="__main__")\\n'
        "except SystemExit as e:\\n assert not e.code, e.code'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "recipe_options", "--data-config", "conf/data.yaml", "--hours", "zh=0.05 en=0.05"]
        + ["--asr-judges", "tiny-random", "--whisper-dir", str(tmp_path), "--posthoc-presets", "50hz_keep2_275bps"],
        cwd=MINI_RECIPE,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "test_aishell test_librispeech",
        "tiny-random",
        f"{tmp_path}/tiny-random.pt",
        "False",
    ]
