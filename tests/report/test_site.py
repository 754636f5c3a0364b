"""bench site over the published reports: every link and picture resolves, the rankings equal the reports'
own tables, the published site is the one the results make; and in a real browser (headless Chromium), the
pages load without console errors, a table sorts on a click, every image loads, and a screenshot is made."""

import filecmp
import os
import re
import shutil
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.core.errors import UsageError
from bench.report.site import PAGES, build_site, find_reports

ROOT = Path(__file__).resolve().parents[2]
RESULTS, PUBLISHED = ROOT / "results", ROOT / "site"


class Links(HTMLParser):
    """The src of every img and audio and the href of every a of a page."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("a", "img", "audio") and (attrs.get("href") or attrs.get("src")):
            self.found.append((tag, attrs.get("href") or attrs.get("src")))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site of the published results, built beside a link to them as site/ lies beside results/."""
    root = tmp_path_factory.mktemp("site")
    (root / "results").symlink_to(RESULTS, target_is_directory=True)
    assert main(["site", str(root / "results"), "--out", str(root / "site")]) == 0
    return root / "site"


def test_every_report_has_a_page_and_every_link_and_picture_resolves(site):
    reports = find_reports(RESULTS)  # (the pages count what the published site holds)
    assert {"inits-2025", "tuned/audio", "tuned/audio/test"} <= {r.name for r in reports}
    pages = [site / "index.html", *sorted((site / PAGES).glob("*.html"))]
    assert len(pages) == len(reports) + 1
    pictures = players = 0
    for page in pages:
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, link in parser.found:
            if re.match(r"^[a-z]+:|^#", link):
                continue
            target = (page.parent / link.partition("#")[0]).resolve()
            assert target.exists(), f"{page.name}: {tag} {link} leads nowhere"
            pictures += tag == "img"
            players += tag == "audio"
    assert pictures > 100 and players >= 4 * 13  # inits-2025's clips: the target and each init's fit


def test_the_front_page_ranks_as_the_reports_tables_say(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    table = pd.read_csv(RESULTS / "inits-2025" / "table_snr_db.csv").query("signal == 'mean over signals'")
    order = table.sort_values("mean", ascending=False)["model"].tolist()
    section = index[index.index("inits-2025</a>"):]
    section = section[: section.index("</table>")]
    shown = re.findall(r"<tr(?: class=\"unresolved\")?><td>([^<]+)</td>", section)
    assert [name.replace("&amp;", "&") for name in shown] == order
    paired = pd.read_csv(RESULTS / "inits-2025" / "significance_snr_db.csv").set_index("model")
    winner = paired.loc["winner"]
    assert f"{winner['mean_diff']:+.2f} [{winner['ci_low']:+.2f}, {winner['ci_high']:+.2f}]" in section
    holds_zero = paired[(paired["ci_low"] <= 0) & (paired["ci_high"] >= 0)].index
    for model in holds_zero:
        assert f'<tr class="unresolved"><td>{model}</td>' in section


def test_the_published_site_is_the_one_the_results_make(site):
    made = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    published = sorted(p.relative_to(PUBLISHED) for p in PUBLISHED.rglob("*") if p.is_file())
    assert made == published, "rebuild it: bench site results --out site"
    _, mismatch, errors = filecmp.cmpfiles(site, PUBLISHED, [str(p) for p in made], shallow=False)
    assert not mismatch and not errors, f"rebuild it (bench site results --out site): {mismatch + errors}"


def test_a_folder_without_reports_is_one_clear_error(tmp_path, capsys):
    assert main(["site", str(tmp_path), "--out", str(tmp_path / "site")]) == 2
    assert "no report under" in capsys.readouterr().err
    with pytest.raises(UsageError, match="results folder not found"):
        build_site(tmp_path / "missing", tmp_path / "site")


def browser():
    """A headless Chromium driven by Selenium, or a skip with the reason (CI installs both and sets
    BENCH_REQUIRE_BROWSER=1: there this test never skips)."""
    required = os.environ.get("BENCH_REQUIRE_BROWSER") == "1"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if required:
            pytest.fail("selenium is not installed but BENCH_REQUIRE_BROWSER=1: pip install -e '.[dev]'")
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        if required:
            pytest.fail("chromedriver is not installed but BENCH_REQUIRE_BROWSER=1: apt-get install chromium-driver")
        pytest.skip("no chromedriver here (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


NUMBER = re.compile(r"\**(-?\d+(\.\d+)?)")


def column(driver, table: int) -> list[str]:
    return driver.execute_script(f"return Array.from(document.querySelectorAll('table')[{table}].tBodies[0].rows)"
                                 ".map(r => r.cells[1] ? r.cells[1].textContent.trim() : '');")


def test_in_a_browser_pages_load_tables_sort_and_images_show(site, tmp_path):
    driver = browser()
    try:
        pages = [site / "index.html", site / PAGES / "inits-2025.html", site / PAGES / "tuned__audio.html"]
        for page in pages:
            driver.get(page.as_uri())
            broken = driver.execute_script(
                "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);")
            assert broken == [], f"{page.name}: images that do not load: {broken[:3]}"
            silent = driver.execute_async_script(  # every player loads its clip's header (or says why not)
                "const done = arguments[arguments.length - 1];"
                "const players = Array.from(document.querySelectorAll('audio'));"
                "Promise.all(players.map(a => new Promise(ok => {"
                "  if (a.readyState >= 1) return ok(null);"
                "  a.addEventListener('loadedmetadata', () => ok(a.duration > 0 ? null : a.src));"
                "  a.addEventListener('error', () => ok(a.src)); a.preload = 'metadata'; a.load();"
                "}))).then(found => done(found.filter(x => x)));")
            assert silent == [], f"{page.name}: audio that does not load: {silent[:3]}"
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert errors == [], f"{page.name}: console errors {errors[:3]}"
        driver.get((site / PAGES / "inits-2025.html").as_uri())
        tables = driver.execute_script("return document.querySelectorAll('table').length;")
        # the first table whose second column is all numbers (the notes' tables come first)
        table = next(i for i in range(tables) if len(column(driver, i)) > 3
                     and all(NUMBER.match(text) for text in column(driver, i)))
        for clicks, ordered in ((1, sorted), (2, lambda v: sorted(v, reverse=True))):
            driver.execute_script(f"document.querySelectorAll('table')[{table}].querySelectorAll('th')[1].click();")
            values = [float(NUMBER.match(text).group(1)) for text in column(driver, table)]
            assert values == ordered(values), (clicks, values)
        assert driver.save_screenshot(str(tmp_path / "site.png")) and (tmp_path / "site.png").stat().st_size > 10_000
    finally:
        driver.quit()


def report_folder(path: Path, readme: str) -> Path:
    """A report folder as bench site finds one: README.md and environment.json."""
    path.mkdir(parents=True)
    (path / "environment.json").write_text("{}\n")
    (path / "README.md").write_text(readme, encoding="utf-8")
    return path


def hrefs(page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [link for _, link in parser.found]


def test_an_empty_readme_is_titled_by_its_folder(tmp_path):
    report_folder(tmp_path / "results" / "empty", "")
    report_folder(tmp_path / "results" / "blank", "  \n\n ")
    assert main(["site", str(tmp_path / "results"), "--out", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert ">empty</a>: empty</h2>" in index and ">blank</a>: blank</h2>" in index


def test_a_results_folder_that_is_itself_a_report_gets_a_page_by_its_name(tmp_path):
    report_folder(tmp_path / "quick", "# Quick\n")
    assert main(["site", str(tmp_path / "quick"), "--out", str(tmp_path / "site")]) == 0
    assert [p.name for p in (tmp_path / "site" / PAGES).iterdir()] == ["quick.html"]
    assert hrefs(tmp_path / "site" / "index.html")[0] == f"{PAGES}/quick.html"


def test_report_names_with_spaces_hashes_and_percents_link_to_their_pages(tmp_path):
    """A link is a URL: a folder "a#b" or "50% off" is percent-encoded (else "#" starts a fragment), and a
    README's percent-encoded link to another report leads to that report's page."""
    results = tmp_path / "results"
    report_folder(results / "hash#tag", "# Hash\n\nsee [the other](../with%20space/README.md)\n")
    report_folder(results / "with space", "# Space\n\n![a figure](fig%201.png) and [hash](../hash%23tag/README.md)\n")
    (results / "with space" / "fig 1.png").write_bytes(b"png")
    report_folder(results / "50% off", "# Percent\n")
    assert main(["site", str(results), "--out", str(tmp_path / "site")]) == 0
    for page in [tmp_path / "site" / "index.html", *(tmp_path / "site" / PAGES).glob("*.html")]:
        for link in hrefs(page):
            target = page.parent / urllib.parse.unquote(link.partition("#")[0])
            assert target.is_file(), f"{page.name}: {link} leads nowhere"
    assert f'href="with%20space.html"' in (tmp_path / "site" / PAGES / "hash#tag.html").read_text(encoding="utf-8")
    assert f'href="hash%23tag.html"' in (tmp_path / "site" / PAGES / "with space.html").read_text(encoding="utf-8")


def test_an_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    report_folder(tmp_path / "results" / "quick", "# Quick\n")
    (tmp_path / "site").write_text("not a folder")
    assert main(["site", str(tmp_path / "results"), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is a file" in err and "--out" in err


def test_a_table_the_site_cannot_read_leaves_its_ranking_out_with_a_warning(tmp_path, capsys):
    """An empty significance file, a table whose means are text, a test file without its interval: each
    metric's ranking is left out, with a warning naming the file; the others rank as before."""
    report = tmp_path / "results" / "inits"
    shutil.copytree(RESULTS / "inits-2025", report, ignore=shutil.ignore_patterns("weight-scaling-setting"))  # one report
    (report / "significance_lsd.csv").write_text("")
    pd.read_csv(report / "table_psnr_db.csv").assign(mean="28.14 ± 4.01").to_csv(report / "table_psnr_db.csv", index=False)
    pd.read_csv(report / "significance_si_snr_db.csv").drop(columns="ci_low").to_csv(
        report / "significance_si_snr_db.csv", index=False)
    assert main(["site", str(tmp_path / "results"), "--out", str(tmp_path / "site")]) == 0
    err = capsys.readouterr().err
    for name in ("significance_lsd.csv", "table_psnr_db.csv", "significance_si_snr_db.csv"):
        assert f"bench: warning: {report / name}" in err
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '>SNR (dB)</a>' in index and '>SSIM</a>' in index
    assert '>PSNR (dB)</a>' not in index and '>LSD (dB)</a>' not in index and '>SI-SNR (dB)</a>' not in index


def test_a_readme_link_to_a_missing_file_is_a_warning_naming_it(tmp_path, capsys):
    report_folder(tmp_path / "results" / "quick", "# Quick\n\n[notes](NOTES.md) and ![a figure](gone.png)\n")
    (tmp_path / "results" / "quick" / "NOTES.md").write_text("notes\n")
    assert main(["site", str(tmp_path / "results"), "--out", str(tmp_path / "site")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bench: warning:")]
    assert len(warned) == 1 and "quick/README.md links to gone.png" in warned[0], warned
