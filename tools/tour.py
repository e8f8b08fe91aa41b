"""memstore's main job, the tour: run the quickstart notebook in a real Jupyter kernel.

    python tools/tour.py [--notebook notebooks/01_quickstart.ipynb] [--out artifacts/tour]

It executes every cell of the notebook in a fresh ipykernel (as Jupyter would), prints
what each cell did, and writes an executed copy (.ipynb) and an HTML page of it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it, else as given."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _outputs(cell: Any) -> list[str]:
    lines: list[str] = []
    for out in cell.get("outputs", []):
        kind = out["output_type"]
        if kind == "stream":
            lines.append(out["text"].rstrip())
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                lines.append("[an ipywidgets view]")
            elif "text/plain" in data:
                lines.append(str(data["text/plain"]).rstrip())
        elif kind == "error":
            lines.append(f"{out['ename']}: {out['evalue']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the tour; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "01_quickstart.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "tour")
    args = parser.parse_args(argv)

    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbconvert import HTMLExporter

    nb = nbformat.read(args.notebook, as_version=4)  # type: ignore[no-untyped-call]
    print(f"memstore tour: running {_shown(args.notebook)} in a real Jupyter kernel\n")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memstore-tour-") as sockets:
        # IPC sockets in a private folder: the kernel is reachable by this user only,
        # and ipykernel has no reason to warn about unencrypted TCP.
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = nbclient.NotebookClient(
            nb,
            km=manager,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(args.notebook.parent)}},
            store_widget_state=True,
        )
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as error:
            print(f"a cell failed:\n{error}", file=sys.stderr)
            return 1
        finally:
            if manager.has_kernel:  # a kernel manager handed to nbclient is ours to stop
                manager.shutdown_kernel(now=False)
    elapsed = time.perf_counter() - started

    number = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title = next((ln for ln in cell.source.splitlines() if ln.startswith("#")), None)
            if title:
                print(f"\n{title.lstrip('#').strip()}\n{'-' * len(title.lstrip('#').strip())}")
            continue
        number += 1
        print(f"\n[{number}] " + textwrap.indent(cell.source, "    ").lstrip())
        for line in _outputs(cell):
            print(textwrap.indent(line, "    => ", lambda _: True))

    args.out.mkdir(parents=True, exist_ok=True)
    executed = args.out / args.notebook.name
    nbformat.write(nb, executed)  # type: ignore[no-untyped-call]
    headings = (ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines())
    title = "memstore tour: " + next(
        (ln.lstrip("#").strip() for ln in headings if ln.startswith("#")), args.notebook.stem
    )
    nb.metadata["title"] = title  # the page's <title> (nbconvert's templates read it)
    html, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    page = args.out / (args.notebook.stem + ".html")
    page.write_text(html, encoding="utf-8")
    print(f"\nran {number} cells in {elapsed:.1f} s")
    print(f"executed notebook: {_shown(executed)}")
    print(f"HTML copy:         {_shown(page)}")
    print("next: ./dev.sh notebooks opens every tutorial in JupyterLab")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
