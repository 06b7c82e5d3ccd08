"""Rendering: the Jinja environment (autoescape on for every template, so input text is
escaped wherever it is shown; no template marks input `|safe`), thumbnails and relative
links for the review queue, and the PDF print by headless Chromium."""

import base64
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote

import jinja2

from retouch_assets.cores import available_cores
from retouch_assets.reports.weekly import ReviewImage, pct
from retouch_assets.safe_paths import TEMP_PREFIX, UnsafePath, inside

THUMB_PX = 96  # the thumbnail's longer side: ~2–4 KB of JPEG per row


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("retouch_assets.reports", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["pct"] = pct
    return env


def render_html(template: str, view: dict) -> str:
    return environment().get_template(template).render(v=view)


def relative_href(target: Path, from_dir: Path) -> str:
    """A URL path to `target` relative to the folder of the page that links it, each segment
    percent-encoded (a name with `#`, `?` or spaces stays one path)."""
    relative = os.path.relpath(target.resolve(), from_dir.resolve())
    return "/".join(quote(part) for part in Path(relative).parts)


def thumbnail_data_uri(path: Path, size: int = THUMB_PX) -> str | None:
    """A downscaled JPEG of the image as a data URI, or None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))
            small = image.convert("RGB")
            small.thumbnail((size, size))
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=70)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def review_images(rows: list[dict], landing_root: Path, report_dir: Path) -> dict:
    """Per review-queue row (artifact id, attempt): its thumbnail and the relative link to the
    image in its landing batch (None when the file is gone). The thumbnails are made on one
    thread per core (each decodes a whole image; Pillow releases the GIL while decoding)."""
    paths: dict[tuple, Path | None] = {}
    for r in rows:
        try:  # ingest accepted only paths inside the batch; checked again all the same
            path = inside(landing_root, r["batch_id"], r["image"])
        except UnsafePath:
            path = None
        paths[(r["artifact_id"], r["attempt"])] = path if path and path.is_file() else None
    found = [path for path in paths.values() if path is not None]
    with ThreadPoolExecutor(max_workers=min(len(found), available_cores()) or 1) as pool:
        thumbnails = dict(zip(found, pool.map(thumbnail_data_uri, found), strict=True))
    return {
        key: ReviewImage(thumbnails[path], relative_href(path, report_dir))
        if path is not None
        else ReviewImage(None, None)
        for key, path in paths.items()
    }


class PdfUnavailable(RuntimeError):
    """No Chromium to print with: the reason and how to install one."""


def print_pdf(
    html_path: Path, pdf_path: Path, chromium: str | None, stamp: datetime | None = None
) -> Path:
    """Print the HTML file to PDF (A4) with headless Chromium via Playwright, written
    atomically. Raises PdfUnavailable when no Chromium is found (or it cannot print).

    With `stamp`, the PDF's creation and modification dates are that instant instead of the
    print time, so the same report prints to the same bytes (a re-run changes nothing)."""
    if chromium is None:
        raise PdfUnavailable(
            "no Chromium found: install one (`apt-get install chromium` on Debian) or set "
            "RETOUCH_CHROMIUM to a Chromium/Chrome binary, then re-materialize the month"
        )
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf_path.with_name(f"{TEMP_PREFIX}{pdf_path.name}.{os.getpid()}")
    # Playwright's sync API refuses to start inside another one (or an asyncio loop) on the
    # same thread: the print runs on a thread of its own, whoever calls it.
    from playwright.sync_api import Error as PlaywrightError

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(_print, html_path, partial, chromium).result()
    except PlaywrightError as exc:  # a Chromium that cannot start or print: the HTML stands
        partial.unlink(missing_ok=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PdfUnavailable(f"Chromium at {chromium} could not print the PDF: {first}") from exc
    if stamp is not None:
        partial.write_bytes(_stamped(partial.read_bytes(), stamp))
    partial.replace(pdf_path)
    return pdf_path


# Chromium writes `/CreationDate (D:YYYYMMDDHHmmSS...)`; the 14 digits are replaced by as many,
# so no byte offset of the file's cross-reference table moves.
_PDF_DATES = re.compile(rb"(/(?:CreationDate|ModDate) \(D:)\d{14}")


def _stamped(pdf: bytes, stamp: datetime) -> bytes:
    digits = stamp.strftime("%Y%m%d%H%M%S").encode("ascii")
    return _PDF_DATES.sub(lambda m: m.group(1) + digits, pdf)


def _print(html_path: Path, pdf_path: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            page.pdf(
                path=str(pdf_path),
                format="A4",
                print_background=True,
                scale=0.8,
                margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"},
            )
        finally:
            browser.close()
