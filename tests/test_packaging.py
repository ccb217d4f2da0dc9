"""setup.cfg declares every folder that ships files as a package, so ``make setup`` (pip install -e) prints no
setuptools "Package 'agent.examples' is absent from the `packages` configuration" warnings."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_folder_with_package_data_is_a_declared_package(monkeypatch):
    from setuptools.config.setupcfg import read_configuration

    monkeypatch.chdir(ROOT)  # find_namespace: searches the working folder
    options = read_configuration(ROOT / "setup.cfg")["options"]
    packages = set(options["packages"])
    data_folders = {p.parent for pattern in ("agent/examples/*", "world_model/checkpoints/*/*")
                    for p in ROOT.glob(pattern) if p.is_file()}
    assert len(data_folders) >= 6
    missing = sorted(str(f.relative_to(ROOT)).replace("/", ".") for f in data_folders
                     if str(f.relative_to(ROOT)).replace("/", ".") not in packages)
    assert not missing, f"folders with package data that are not packages: {missing}"
    assert not any("__pycache__" in p for p in packages)
    assert {"agent", "planners", "envs", "world_model"} <= packages and not any(p.startswith("tests") for p in packages)
