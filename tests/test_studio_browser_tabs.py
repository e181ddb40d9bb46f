"""The Fashion and Music tabs as a designer and a producer use them, in Debian's headless
Chromium signed in to `atelier up`: a collection of 12 looks cut to 6 and exported as a
lookbook; a one-minute piece composed, played and downloaded. Screenshots of each step are
saved in tests/artifacts/studio/."""

from __future__ import annotations

import zipfile

from playwright.sync_api import expect
from studio_helpers import browser, screenshot, studio_page  # noqa: F401  (fixtures)
from pypdf import PdfReader

SLOW = 120_000  # ms: the first job of a fresh server warms up on a shared CPU


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    page.get_by_role("tab", name=name, exact=True).and_(page.locator("[aria-selected=true]")).wait_for()


def test_collection_of_twelve_cut_to_six_and_exported(studio_page, tmp_path):
    page = studio_page
    open_tab(page, "Fashion")
    page.locator("#fashion-brief textarea").fill("flowers on Venus")
    candidates = page.locator("#fashion-count input[type=number]")
    candidates.fill("24")
    candidates.press("Enter")
    page.locator("#fashion-design-candidates").click()
    ticked = page.locator("#fashion-keep input[type=checkbox]:checked")
    expect(page.locator("#fashion-gallery img")).to_have_count(24, timeout=SLOW)
    expect(ticked).to_have_count(12)  # the proposed first cut
    screenshot(page, "fashion-01-candidates")

    for _ in range(6):
        ticked.first.uncheck()
    expect(ticked).to_have_count(6)
    page.locator("#fashion-collection-name textarea, #fashion-collection-name input").first.fill("Venus Garden")
    page.locator("#fashion-keep-looks").click()
    expect(page.locator("#fashion-collection-status")).to_contain_text("6 looks kept", timeout=SLOW)
    expect(page.locator("#fashion-board img")).to_be_visible()
    screenshot(page, "fashion-02-board")

    page.locator("#fashion-export-lookbook").click()
    pdf_link = page.locator("#fashion-lookbook-pdf a[href$='lookbook.pdf']")
    expect(pdf_link).to_be_visible(timeout=SLOW)
    with page.expect_download() as download:
        pdf_link.click()
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert len(PdfReader(pdf).pages) == 1 + 6
    with page.expect_download() as download:
        page.locator("#fashion-lookbook-zip a[href$='.zip']").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    assert "venus-garden/lookbook.pdf" in zipfile.ZipFile(archive).namelist()
    screenshot(page, "fashion-03-lookbook")


def test_one_minute_piece_plays_and_downloads(studio_page, tmp_path):
    page = studio_page
    open_tab(page, "Music")
    page.locator("#music-brief textarea").fill("rainy Seoul night, hopeful")
    minutes = page.locator("#music-minutes input[type=number]")
    minutes.fill("1")
    minutes.press("Enter")
    page.locator("#music-plan").click()
    expect(page.locator("#music-plan-info")).to_contain_text("BPM", timeout=SLOW)
    screenshot(page, "music-01-plan")

    page.locator("#music-compose").click()
    expect(page.locator("#music-summary")).to_contain_text("LUFS", timeout=SLOW)
    expect(page.locator("#music-master audio[src]")).not_to_have_count(0)  # the player has the master loaded
    screenshot(page, "music-02-composed")

    with page.expect_download() as download:
        page.locator("#music-bundle a[href$='.zip']").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    names = zipfile.ZipFile(archive).namelist()
    assert any(name.endswith(".mid") for name in names) and any(name.endswith("/master.wav") for name in names)
    assert sum("/stems/" in name for name in names) >= 2
