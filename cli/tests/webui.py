"""Drives the daemon's web UI in headless Chromium (Playwright, pointed at Debian's chromium).

Arguments: the daemon's URL, USER:PASS, the .torrent to drop (its data seeded by a real peer
found through its tracker), a magnet link of it naming that peer, the seeder's data directory,
the daemon's download directory, a directory for screenshots.

Every step is checked through the Transmission RPC (the `transmission-rpc` package, not the
page's own code) or on disk, and waits on conditions, never on fixed delays.
"""
import base64
import functools
import http.server
import pathlib
import sys
import threading
import time
import urllib.parse

import transmission_rpc
from playwright.sync_api import sync_playwright

url, credentials, torrent, magnet, src, dl, shots = sys.argv[1:8]
user, password = credentials.split(":", 1)
src, dl, shots = pathlib.Path(src), pathlib.Path(dl), pathlib.Path(shots)
torrent = pathlib.Path(torrent)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DROP = """(b64) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'multi.torrent', {type: 'application/x-bittorrent'}));
    return dt;
}"""
# The multi layout: a.bin fills pieces 0-1 and shares piece 2; zz_rest.bin is most of it.
FILES = ["multi/a.bin", "multi/sub/b.bin", "multi/sub/deeper/c.bin", "multi/sub/deeper/empty.bin",
         "multi/z/tiny.txt", "multi/zz_rest.bin"]
A, B, REST = 0, 1, 5

address = urllib.parse.urlparse(url)
rpc = transmission_rpc.Client(host=address.hostname, port=address.port,
                              username=user, password=password, timeout=30)


def wait_until(what, check, secs=60):
    """Polls `check` until it returns something true; fails naming `what` after `secs`."""
    deadline = time.time() + secs
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"never {what}"
        time.sleep(0.1)


def only_torrent():
    torrents = rpc.get_torrents()
    assert len(torrents) == 1, torrents
    return torrents[0]


def check_download(directory, unwanted):
    """The wanted files are on disk as the seeder has them; the unwanted ones are not whole."""
    t = only_torrent()
    assert t.percent_done == 1.0, t.fields
    for i, f in enumerate(t.get_files()):
        assert f.name == FILES[i], (f.name, FILES)
        assert f.selected == (i not in unwanted), (i, f)
        if i in unwanted:
            assert f.completed < f.size, f
        else:
            assert f.completed == f.size, f
            assert (directory / f.name).read_bytes() == (src / f.name).read_bytes(), f.name


def serve(directory):
    """Serves `directory` over HTTP on 127.0.0.1 in a thread; the server."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fits(page, width):
    """Nothing sticks out sideways at this width."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at {width} px"


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
    # --http-auth: without the credentials the browser is refused (headless Chromium cannot
    # ask for them, so it fails the navigation on the daemon's 401 challenge).
    anonymous = browser.new_context()
    try:
        status = anonymous.new_page().goto(url).status
    except Exception as e:  # noqa: BLE001 (Playwright's Error)
        status = str(e)
    assert status == 401 or "ERR_INVALID_AUTH_CREDENTIALS" in str(status), status
    anonymous.close()

    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  http_credentials={"username": user, "password": password})
    context.set_default_timeout(30_000)
    page = context.new_page()
    browser_dialogs = []
    page.on("dialog", lambda d: (browser_dialogs.append(d.type), d.accept()))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Console errors include what the Content-Security-Policy refused; the RPC's 409 (the
    # session-id handshake) is expected.
    page.on("console", lambda m: m.type == "error" and "status of 409" not in m.text
            and errors.append(m.text))
    row = page.locator("#list tbody tr")
    try:
        page.goto(url)
        page.wait_for_selector("#empty:visible")

        # Keyboard: the first Tab lands on "Add", visibly; Enter on it opens the dialog.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "open-add"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline
        page.keyboard.press("Enter")
        page.wait_for_selector("#add[open]")
        page.keyboard.press("Escape")
        page.wait_for_selector("#add:not([open])", state="attached")

        # Dropped .torrent: its files are listed before it is added; a.bin is left out.
        data = base64.b64encode(torrent.read_bytes()).decode()
        page.dispatch_event("main", "drop", {"dataTransfer": page.evaluate_handle(DROP, data)})
        page.wait_for_selector("#add-files li >> nth=5")
        assert page.locator("#add-files li").count() == len(FILES)
        page.locator("#add-files label", has_text="multi/a.bin").click()
        page.fill("#add-labels", "demo, linux")
        page.screenshot(path=shots / "add.png")
        page.click("#add-submit")
        page.wait_for_selector("#add:not([open])", state="attached")

        # Details while it downloads: the seeder among the peers, the tracker, the pieces.
        row.locator("button.link").click()
        page.wait_for_selector(".tree .file >> nth=5")
        page.click("[data-tab=peers]")
        page.wait_for_selector("#details-body td >> text=127.0.0.1")
        assert "lt_peer" in page.inner_text("#details-body") or "libtorrent" in page.inner_text(
            "#details-body").lower() or "-LT" in page.inner_text("#details-body")
        page.screenshot(path=shots / "peers.png")
        page.click("[data-tab=trackers]")
        page.wait_for_selector(f"#details-body >> text={rpc.get_torrents()[0].trackers[0].announce}")
        page.click("[data-tab=files]")
        assert page.is_visible("#pieces")
        row.locator("[role=progressbar][aria-valuenow='100']").wait_for(state="attached")
        check_download(dl, unwanted={A})
        # The tree updates in place: the file progress reached 100 % without a reload.
        rest = page.locator("li.file", has_text="zz_rest.bin")
        rest.locator("[role=progressbar][aria-valuenow='100']").wait_for()
        page.screenshot(path=shots / "details.png")

        # Deselect a file and raise another's priority in the tree.
        page.click('[aria-label="Download multi/sub/b.bin"]')
        wait_until("b.bin unwanted", lambda: not only_torrent().get_files()[B].selected, 20)
        wait_until("multi/sub/ shown partly wanted", lambda: page.eval_on_selector(
            '[aria-label="Download multi/sub/"]', "e => e.indeterminate && !e.checked"), 10)
        page.select_option('[aria-label="Priority of multi/zz_rest.bin"]', "high")
        wait_until("zz_rest.bin high", lambda: only_torrent().get_files()[REST].priority == 1, 20)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=shots / "phone-details.png")
        page.keyboard.press("Escape")
        fits(page, 390)
        page.screenshot(path=shots / "phone.png")
        page.set_viewport_size({"width": 1280, "height": 800})

        # Filters.
        assert "demo, linux" in row.inner_text(), row.inner_text()
        page.select_option("#filter-label", "linux")
        page.fill("#search", "mul")
        assert row.count() == 1
        page.select_option("#filter-state", "stopped")
        assert row.count() == 0
        page.select_option("#filter-state", "")
        page.select_option("#filter-label", "")
        page.fill("#search", "")

        # Labels in an in-page dialog (no browser prompt): those in use are toggles kept in step
        # with the text field, which takes new ones.
        row.locator("input[type=checkbox]").check()
        page.click("[data-act=labels]")
        page.wait_for_selector("#labels[open]")
        assert page.input_value("#labels-input") == "demo, linux"
        demo = page.locator("#labels-known input[value=demo]")
        assert demo.is_checked() and page.locator("#labels-known input[value=linux]").is_checked()
        demo.uncheck()
        assert page.input_value("#labels-input") == "linux"
        page.fill("#labels-input", "linux, tv, demo")
        assert demo.is_checked()
        page.fill("#labels-input", "linux, tv")
        assert not demo.is_checked()
        page.screenshot(path=shots / "labels.png")
        page.click("#labels-submit")
        page.wait_for_selector("#labels:not([open])", state="attached")
        wait_until("labels set", lambda: only_torrent().labels == ["linux", "tv"], 20)
        row.locator("text=linux, tv").wait_for()
        assert "prompt" not in browser_dialogs, browser_dialogs
        row.locator("input[type=checkbox]").uncheck()

        # Keyboard: Space selects a row, Enter on its name opens the details, Escape closes.
        row.locator("input[type=checkbox]").focus()
        page.keyboard.press("Space")
        assert row.locator("input[type=checkbox]").is_checked()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "multi"
        page.keyboard.press("Enter")
        page.wait_for_selector("#details[open]")
        page.keyboard.press("Escape")
        page.wait_for_selector("#details:not([open])", state="attached")

        # The torrent's limits, then the global ones and PEX in the settings.
        row.locator("input[type=checkbox]").check()
        page.click("[data-act=limits]")
        page.wait_for_selector("#limits[open]")
        page.check("#limits-form [name=download_limited]")
        page.fill("#limits-form [name=download_limit]", "200")
        page.fill("#limits-form [name=peer_limit]", "30")
        page.select_option("#limits-form [name=seed_ratio_mode]", "1")
        page.fill("#limits-form [name=seed_ratio_limit]", "1.5")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=shots / "phone-limits.png")
        page.set_viewport_size({"width": 1280, "height": 800})
        page.click("#limits-submit")
        page.wait_for_selector("#limits:not([open])", state="attached")
        t = only_torrent()
        assert (t.download_limit, t.download_limited, t.peer_limit) == (200, True, 30), t.fields
        assert (t.fields["seedRatioMode"], t.fields["seedRatioLimit"]) == (1, 1.5), t.fields
        page.click("#open-settings")
        page.wait_for_selector("#version >> text=sanstorrent")
        page.check("[name=speed_limit_down_enabled]")
        page.fill("[name=speed_limit_down]", "5000")
        page.uncheck("[name=pex_enabled]")
        page.check("[name=download_queue_enabled]")
        page.fill("[name=download_queue_size]", "3")
        page.screenshot(path=shots / "settings.png")
        page.click("#settings-submit")
        page.wait_for_selector("#settings:not([open])", state="attached")
        s = rpc.get_session()
        assert (s.speed_limit_down, s.speed_limit_down_enabled, s.pex_enabled) == (5000, True, False)
        assert (s.download_queue_enabled, s.download_queue_size) == (True, 3)
        page.wait_for_selector("#totals >> text=at most 5.00 MB/s")

        # Stop, then remove with its data, confirmed in an in-page dialog (Cancel first).
        page.click("[data-act=torrent_stop]")
        row.locator("text=Stopped").wait_for()
        assert only_torrent().status == "stopped"
        page.click("[data-act=remove-data]")
        page.wait_for_selector("#remove[open]")
        assert "delete its data" in page.inner_text("#remove-title")
        page.click("#remove .cancel")
        page.wait_for_selector("#remove:not([open])", state="attached")
        assert len(rpc.get_torrents()) == 1, "cancelled: nothing removed"
        page.click("[data-act=remove-data]")
        page.wait_for_selector("#remove[open]")
        page.screenshot(path=shots / "remove.png")
        page.click("#remove-submit")
        page.wait_for_selector("#empty:visible")
        assert not browser_dialogs, browser_dialogs
        assert rpc.get_torrents() == []
        wait_until("the data deleted", lambda: not (dl / FILES[REST]).exists(), 20)

        # A magnet link, typed and submitted with Enter: it runs to fetch its metadata, then
        # waits for the file choice with every file skipped, downloading nothing.
        via_magnet = dl / "via-magnet"
        page.keyboard.press("a")
        page.wait_for_selector("#add[open]")
        page.fill("#add-dir", str(via_magnet))
        page.check("#add-choose")
        page.fill("#add-link", magnet)
        page.press("#add-link", "Enter")
        page.wait_for_selector("#choose-files li >> nth=5")
        waiting = rpc.get_torrent(only_torrent().id, arguments=[
            "id", "status", "chooseFiles", "haveValid", "wanted", "percentDone", "isFinished"])
        assert waiting.status == "downloading", waiting.fields
        assert waiting.fields["chooseFiles"] is True, waiting.fields
        assert waiting.fields["wanted"] == [0] * len(FILES), waiting.fields
        assert waiting.fields["haveValid"] == 0 and not waiting.fields["isFinished"], waiting.fields
        row.locator("text=Waiting for a choice of files").wait_for()
        assert page.inner_text("#choose-submit") == "Start"
        page.locator("#choose-files label", has_text="multi/a.bin").click()
        page.screenshot(path=shots / "choose.png")
        page.click("#choose-submit")
        page.wait_for_selector("#choose:not([open])", state="attached")
        row.locator("[role=progressbar][aria-valuenow='100']").wait_for(state="attached")
        check_download(via_magnet, unwanted={A})
        assert pathlib.Path(only_torrent().download_dir) == via_magnet
        row.locator("input[type=checkbox]").check()
        page.click("[data-act=remove]")
        page.wait_for_selector("#remove[open]")
        assert "delete" not in page.inner_text("#remove-title")
        page.click("#remove-submit")
        page.wait_for_selector("#empty:visible")
        assert (via_magnet / FILES[REST]).exists(), "a plain remove keeps the data"

        # By URL, paused: the daemon fetches it, the files are chosen, it stays stopped.
        server = serve(torrent.parent)
        via_url = dl / "via-url"
        page.click("#open-add")
        page.fill("#add-link", f"http://127.0.0.1:{server.server_port}/{torrent.name}")
        page.fill("#add-dir", str(via_url))
        page.check("#add-paused")
        page.check("#add-choose")
        page.click("#add-submit")
        page.wait_for_selector("#choose-files li >> nth=5")
        assert page.inner_text("#choose-submit") == "Save"
        page.click("#choose-none")
        page.locator("#choose-files label", has_text="multi/zz_rest.bin").click()
        page.click("#choose-submit")
        page.wait_for_selector("#choose:not([open])", state="attached")
        t = only_torrent()
        assert t.status == "stopped", t.fields
        assert [f.selected for f in t.get_files()] == [i == REST for i in range(len(FILES))]
        assert not (via_url / FILES[REST]).exists(), "a paused torrent wrote its data"
        # A second row for the screenshots: a magnet nobody serves.
        page.click("#open-add")
        page.fill("#add-link", "magnet:?xt=urn:btih:" + "5a" * 20 + "&dn=no-peers-yet")
        page.fill("#add-labels", "waiting")
        page.click("#add-submit")
        wait_until("two torrents", lambda: row.count() == 2, 20)
        target = row.filter(has_text="multi")
        target.locator("input[type=checkbox]").check()
        page.click("[data-act=torrent_start]")
        target.locator("text=Downloading").wait_for()
        # Bars are as long as their progress says (a style the page may not set shows full).
        fill = row.filter(has_text="no-peers-yet").locator(".bar span")
        assert fill.evaluate("e => e.getBoundingClientRect().width") == 0
        wait_until("a fifth downloaded, on the page", lambda: int(target.locator(
            "[role=progressbar]").get_attribute("aria-valuenow")) >= 20, 60)
        page.screenshot(path=shots / "desktop.png")
        page.screenshot(path=shots / "webui.png", clip={"x": 0, "y": 0, "width": 1280, "height": 220})
        page.set_viewport_size({"width": 390, "height": 844})
        fits(page, 390)
        page.screenshot(path=shots / "phone-list.png")
        page.set_viewport_size({"width": 1280, "height": 800})
        target.locator("[role=progressbar][aria-valuenow='100']").wait_for(state="attached")
        server.shutdown()

        # Move storage: the data goes to a new directory while the daemon runs.
        def by_name(name):
            return [t for t in rpc.get_torrents() if t.name == name][0]

        moved = dl / "moved"
        page.click("[data-act=move]")
        page.wait_for_selector("#move[open]")
        assert page.input_value("#move-location") == str(via_url)
        assert page.is_checked("#move-data")
        page.fill("#move-location", str(moved))
        page.click("#move-submit")
        page.wait_for_selector("#move:not([open])", state="attached")
        wait_until("moved", lambda: pathlib.Path(by_name("multi").download_dir) == moved, 60)
        wait_until("the data moved", lambda: (moved / FILES[REST]).exists()
                   and not (via_url / FILES[REST]).exists(), 60)
        assert (moved / FILES[REST]).read_bytes() == (src / FILES[REST]).read_bytes()
        wait_until("still complete", lambda: by_name("multi").percent_done == 1.0, 60)

        assert not errors, errors
        print("web ui ok")
    except Exception:
        page.screenshot(path=shots / "failure.png")
        raise
    finally:
        browser.close()
