"""The HTML reports of a run, a sweep and the history, rendered by headless Chromium
(Debian's ``chromium``, in a network namespace of its own with nothing but loopback, so it
can fetch nothing): the verdict and the key figures are read back from the rendered page
and match the JSON; a screenshot of each is saved in the test's output directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import yaml

from ostinato_tcp.report.html import _rate_text

from .conftest import clear_test_space

CHROMIUM = ["unshare", "--net", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.ids, self._stack, self.figures = [], {}, [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append((a.get("id"), a.get("data-figure"), len(self.parts)))

    def handle_endtag(self, tag):
        if self._stack:
            ident, figure, start = self._stack.pop()
            text = " ".join("".join(self.parts[start:]).split())
            if ident:
                self.ids[ident] = text
            if figure:
                self.figures[figure] = text

    def handle_data(self, data):
        self.parts.append(data)


def render(page: Path, out: Path) -> tuple[_Text, int, int]:
    """The page as Chromium rendered it (its DOM, read back as text), its screenshot's bytes,
    and the number of images (plots) the rendered page holds."""
    profile = out.parent / "chromium-profile"
    url = page.resolve().as_uri()
    dom = subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
    shot = subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1280,2000",
                           url], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and out.exists(), shot.stderr[-2000:]
    text = _Text()
    text.feed(dom.stdout)
    plots = len(re.findall(r"<svg\b", dom.stdout)) + len(re.findall(r"<img\b[^>]*src=\"data:image/png", dom.stdout))
    return text, out.stat().st_size, plots


def test_the_html_reports_render_with_the_verdict_and_the_figures(lab, scenario_file, tmp_path, request):
    assert shutil.which("chromium"), "Debian's chromium is missing: make lab-deps installs it"
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    outdir = tmp_path / "html"
    outdir.mkdir()

    def tool(*args):
        p = subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True,
                           timeout=600, env=env)
        return p

    sc = scenario_file("lab-1000.yaml", name="html-run", **{"connections.count": 400, "traffic.rate": 1000})
    try:
        p = tool("run", str(sc), "--lab", lab.prefix, "--report-json", str(tmp_path / "run.json"),
                 "--report-html", str(outdir / "run.html"))
        assert p.returncode == 0, p.stdout + p.stderr
        (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"name": "html-sweep", "base": str(sc),
                                                             "counts": [200, 400], "rates": [1000]}))
        p = tool("sweep", str(tmp_path / "sweep.yaml"), "--lab", lab.prefix, "--out", str(tmp_path / "sweep"),
                 "--report-html", str(outdir / "sweep.html"))
        assert p.returncode == 0, p.stdout + p.stderr
        p = tool("history", "--scenario", "html-run", "--report-html", str(outdir / "history.html"))
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        clear_test_space(lab)

    run = json.loads((tmp_path / "run.json").read_text())
    page, size, plots = render(outdir / "run.html", outdir / "run.png")
    assert page.ids["verdict"] == "PASS 400/400 ESTABLISHED+ASSURED"
    offered = run["rates"]["offered_connection_rate"]
    assert page.figures["rates.offered_connection_rate"] == _rate_text(offered)
    assert page.figures["established_assured"] == "400"
    assert page.figures["plan.ceiling"].startswith(f"{run['plan']['ceiling']['packets_per_second']:,.0f} packets/s")
    found = {"run": (size, plots, len(page.figures))}
    assert plots >= 1  # where the time went

    sweep = json.loads((tmp_path / "sweep" / "results.json").read_text())
    page, size, plots = render(outdir / "sweep.html", outdir / "sweep.png")
    assert page.ids["verdict"] == "PASS 2/2 grid points passed"
    knee = sweep["summary"]["maximum_connection_establishment_rate"]
    text = "".join(page.parts)
    assert all(f"{int(c):,}" in text and f"{k['connections_per_second']:,.1f}" in text for c, k in knee.items())
    assert plots == len(list((tmp_path / "sweep").glob("*.png"))) >= 2
    found["sweep"] = (size, plots, len(knee))

    page, size, plots = render(outdir / "history.html", outdir / "history.png")
    assert page.ids["verdict"] == "LATEST PASS" and "html-run" in "".join(page.parts) and plots == 1
    found["history"] = (size, plots, 0)
    for name, (size, plots, figures) in found.items():
        assert size > 20_000, (name, size)  # a page drawn, not a blank one
        request.node.user_properties.append((f"{name}_screenshot_bytes", size))
    print("screenshots (bytes, plots, figures):", found, "in", outdir)
