"""The weekly and monthly reports opened in a real headless Chromium from file://: no console
or script error and no request leaving the machine, every chart drawn, the review-queue links
resolving to images, WCAG 2 A/AA by axe-core with zero violations, input text shown as text
(a hostile prompt, template name, reviewer and reviewer note trigger nothing), and the
monthly PDF printed. Screenshots go to the test's folder and, when RETOUCH_SCREENSHOTS_DIR is
set, there too."""

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from retouch_assets.config import load_config
from retouch_assets.reports.build import write_monthly, write_weekly
from retouch_assets.settings import chromium_path
from retouch_assets.warehouse import connect
from tests.conftest import REPO_ROOT, copy_sample_run

ENV_SCREENSHOTS = "RETOUCH_SCREENSHOTS_DIR"
HOSTILE = '<script>alert(1)</script><img src=x onerror="window.pwned=1;alert(2)"> <!channel>'
REVIEW_WEEK, LAST_WEEK, MONTH = date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 1)
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}}


@dataclass(frozen=True)
class Reports:
    weekly: dict[date, Path]
    monthly: Path
    pdf: Path | None
    landing: Path


@pytest.fixture(scope="module")
def reports(sample_run, tmp_path_factory) -> Reports:
    """The sample run's copy with hostile input text in a prompt, a template name, a reviewer
    and a sign-off note, and every report written again from it."""
    settings = copy_sample_run(sample_run, tmp_path_factory.mktemp("hostile") / "run")
    root = Path(settings.reports_dir)
    config = load_config(REPO_ROOT / "retouch-slo.yaml")
    with connect(settings.duckdb_path) as con:
        con.execute(
            "UPDATE retouch.generations SET prompt = $h, template_id = $h || template_id, "
            "reviewer = CASE WHEN reviewer IS NULL THEN NULL ELSE $h END",
            {"h": HOSTILE},
        )
        con.execute("UPDATE retouch.review_queue SET template_id = $h", {"h": HOSTILE})
        con.execute(
            "UPDATE qa.template_backlog SET template_id = $h, reviewer = $h", {"h": HOSTILE}
        )
        con.execute(
            "INSERT INTO ops.signoffs VALUES ('s-1', $at, 'release_freeze', 'colour-fidelity/*', "
            "$h, $h, $at)",
            {"at": "2026-10-15 10:00:00+00", "h": HOSTILE},
        )
        weekly = {
            week: write_weekly(con, week, config, root, Path(settings.landing_dir)).html
            for week in (REVIEW_WEEK, LAST_WEEK)
        }
        monthly = write_monthly(con, MONTH, root, chromium_path())
    return Reports(weekly, monthly.html, monthly.pdf, Path(settings.landing_dir))


def _screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    folder = os.environ.get(ENV_SCREENSHOTS)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / name, Path(folder) / name)


def _open(probe, path: Path) -> list[str]:
    dialogs: list[str] = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    probe.page.on("dialog", dismiss)
    probe.page.goto(path.as_uri(), wait_until="load")
    return dialogs


def _check_page(probe, path: Path, tmp_path: Path, name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = probe.page
    dialogs = _open(probe, path)
    _screenshot(page, tmp_path, name)
    # Every chart is drawn: each SVG has data marks with a visible size.
    sizes = page.eval_on_selector_all(
        "svg.chart",
        "els => els.map(s => Array.from(s.querySelectorAll('.mark'))"
        ".filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length)",
    )
    assert sizes and all(n > 0 for n in sizes), sizes
    declared = page.eval_on_selector_all("svg.chart", "els => els.map(s => +s.dataset.marks)")
    assert declared == sizes
    # Input text is text: no script element, no injected image, nothing ran.
    assert page.locator("script").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("window.pwned") is None and dialogs == []
    result = Axe().run(page, options=WCAG_AA)
    assert result.violations_count == 0, result.generate_report()
    assert probe.problems() == []


def test_weekly_reports_render_offline_accessible_and_inert(probe, reports, tmp_path):
    for week, path in reports.weekly.items():
        _check_page(probe, path, tmp_path, f"weekly-{week.isoformat()}.png")
        assert HOSTILE in probe.page.inner_text("main")  # shown, as text
    assert probe.page.locator("svg.chart").count() >= 6  # burn-down, SLIs, drivers, ...
    first_screen = probe.page.locator("header").inner_text()
    assert "Needs action" in first_screen and "budget left" in first_screen


def test_review_queue_links_open_the_images_under_review(probe, reports, tmp_path):
    _open(probe, reports.weekly[REVIEW_WEEK])
    links = probe.page.eval_on_selector_all("a.review-link", "els => els.map(a => a.href)")
    thumbs = probe.page.eval_on_selector_all(
        "img.thumb", "els => els.map(i => i.complete && i.naturalWidth)"
    )
    assert links and len(thumbs) == len(links) and all(thumbs)
    for href in links:
        target = Path(unquote(urlparse(href).path))
        assert target.is_file() and target.is_relative_to(reports.landing.resolve())
        with Image.open(target) as image:
            image.verify()
    # Following a link loads the image in the browser.
    probe.page.goto(links[0])
    width = probe.page.evaluate("document.images.length && document.images[0].naturalWidth")
    assert width > 0
    assert probe.problems() == []


def test_monthly_report_renders_and_prints_to_pdf(probe, reports, tmp_path):
    _check_page(probe, reports.monthly, tmp_path, "monthly.png")
    assert "Executive report" in probe.page.inner_text("h1")
    assert reports.pdf is not None and reports.pdf.read_bytes()[:4] == b"%PDF"
