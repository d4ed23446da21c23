"""The example notebooks of docs/examples run from top to bottom in a real Jupyter kernel (nbclient +
ipykernel), against the emulators they start themselves: a cell that raises fails the test."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
CELL_TIMEOUT = 240


@pytest.fixture(autouse=True)
def this_python_as_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel runs the test's own Python, whatever "python3" kernel a user may have installed elsewhere."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def execute(name: str, workdir: Path) -> object:
    """Run every cell of the notebook in a kernel of the test's Python, in ``workdir``."""
    import nbformat
    from nbclient import NotebookClient

    workdir.mkdir()
    book = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return book


def outputs(book: object) -> str:
    texts = []
    for cell in book.cells:  # type: ignore[attr-defined]
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_committed_notebooks_carry_no_outputs() -> None:
    import nbformat

    for path in sorted(EXAMPLES.glob("*.ipynb")):
        book = nbformat.read(path, as_version=4)
        code = [cell for cell in book.cells if cell.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path.name


def test_neurovault_by_doi_runs(tmp_path: Path) -> None:
    book = execute("neurovault_by_doi.ipynb", tmp_path / "work")
    assert (tmp_path / "work" / "neurovault" / "collection-47").is_dir()
    assert "Z map" in outputs(book)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed (pip install torch; .ci/run installs it)"
)
def test_preventad_to_model_runs(tmp_path: Path) -> None:
    book = execute("preventad_to_model.ipynb", tmp_path / "work")
    assert any((tmp_path / "work" / "preventad").rglob("*.mnc"))
    shown = outputs(book)
    assert "torch.Size([4, " in shown and "image/png" in str(book.cells[-3].outputs)
