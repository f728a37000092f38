#!/usr/bin/env python3
"""Runs examples/*.ipynb top to bottom with nbclient on the mgv kernel (as
`jupyter nbconvert --execute` would) and checks that every code cell ran
without an error and that pictures came out as PNG. The notebooks are
committed with their outputs (scripts/make_notebooks.py --execute), so that
they read on a repository page: each file as committed must hold them too."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

H.install_kernelspec()
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
failed = 0
for path in sorted(glob.glob(os.path.join(root, "examples", "*.ipynb"))):
    name = "notebook " + os.path.basename(path)
    try:
        nb = nbformat.read(path, as_version=4)
        saved = [c for c in nb.cells if c.cell_type == "code"]
        if not all(c.execution_count for c in saved) or not any(
                "image/png" in o.get("data", {}) for c in saved for o in c.outputs):
            raise AssertionError("committed without outputs: run scripts/make_notebooks.py --execute")
        # MNRE's text is fetched at set-up, never committed: a notebook's MNRE
        # section is committed as its "data not there" note (make_notebooks.py)
        for c in saved:
            if "mgv.data.mre" in "".join(c.source):
                text = "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                               for o in c.outputs)
                if "this section is skipped" not in text or "route of sample" in text:
                    raise AssertionError("committed with an MNRE run in its outputs (MNRE text): "
                                         "run scripts/make_notebooks.py --execute")
        NotebookClient(nb, kernel_name="mgv", timeout=int(H.scaled(300)),
                       resources={"metadata": {"path": os.path.join(root, "examples")}}).execute()
        code = [c for c in nb.cells if c.cell_type == "code"]
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        pngs = [o for c in code for o in c.outputs
                if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]
        if errors:
            raise AssertionError("error output: %s: %s" % (errors[0].ename, errors[0].evalue))
        if not all(c.execution_count for c in code):
            raise AssertionError("a code cell did not run")
        if not pngs:
            raise AssertionError("no image/png output")
        for o in pngs:
            if not o["data"]["image/png"].startswith("iVBORw0KGgo"):
                raise AssertionError("image/png is not base64 PNG")
        print("PASS %s (%d cells, %d pictures)" % (name, len(code), len(pngs)))
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("FAIL %s: %s" % (name, e))
sys.exit(1 if failed else 0)
