#!/usr/bin/env python3
"""The dashboard in a real headless browser (Debian's Chromium and chromedriver, driven by Selenium).

Run by `deploy/demo --check` against the demo's hub before the storm replay starts; the demo starts
the replays once this script has written STATE/dashboard-ready. The browser reaches the hub through
a TCP relay that this script can cut and restore, to check that the live feed resumes without gaps.

Checks, each a failure when it does not hold:
  - the page loads and goes live; the alerts raised by the replay appear without a reload;
  - every located sensor of the tenant is on the map, each marker (or cluster) in the colour of
    the most severe active alert of its sensors, as the hub's map feed says;
  - when the connection drops the page says so, and once it is back the list of alerts equals the
    hub's (nothing missed, nothing twice) and the page has every feed event;
  - acknowledge (who, when) reaches the hub; a sensor opens with latest values, thresholds and a
    chart of 24 h and 7 days with its threshold lines;
  - Japanese and English; times in the viewer's zone (Asia/Tokyo here) with the zone shown; a marker
    opens from the keyboard; the phone layout has no sideways scrolling;
  - no request leaves loopback.
Saves STATE/dashboard-storm.png (the map during the storm) and STATE/dashboard-details.png.
"""
import argparse, asyncio, calendar, json, pathlib, re, socket, sys, threading, time, traceback, urllib.parse, urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

COLOURS = None  # read from the page (window.kakehashi.colours)
RANK = {"none": 0, "informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


class Relay:
    """A loopback TCP relay to the hub that can be cut (listener closed, connections dropped) and restored."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.connections = set()
        self.server = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.restore()

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.connections.discard(pair)

    async def _start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self):
        self.server.close()
        for a, b in list(self.connections):
            for w in (a, b):
                w.transport.abort()
        self.connections.clear()

    def restore(self):
        self.call(self._start())

    def cut(self):
        self.call(self._cut())


class Check:
    def __init__(self):
        self.failures = []

    def that(self, condition, message):
        status = "ok  " if condition else "FAIL"
        print(f"{status} {message}", file=sys.stderr, flush=True)
        if not condition:
            self.failures.append(message)
        return condition


def wait(what, condition, timeout=60, interval=0.25):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (WebDriverException, OSError, ValueError, KeyError, TypeError) as error:
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="the hub's URL, http://127.0.0.1:PORT")
    parser.add_argument("--tenant", default="tokushima")
    parser.add_argument("--key-file", required=True, help="a file holding an operator key of the tenant (the page logs in with it)")
    parser.add_argument("--state", required=True, help="folder for the ready file and the screenshots")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for the storm's alerts")
    args = parser.parse_args()
    state = pathlib.Path(args.state)
    hub = args.hub.rstrip("/")
    hub_port = urllib.parse.urlparse(hub).port
    relay = Relay(hub_port)
    page = f"http://127.0.0.1:{relay.port}"
    check = Check()
    args.key = pathlib.Path(args.key_file).read_text().strip()

    def hub_json(path, tenant=True):
        headers = {"Authorization": f"Bearer {args.key}"}
        if tenant:
            headers["NGSILD-Tenant"] = args.tenant
        request = urllib.request.Request(hub + path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response), response.headers

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000",
                     "--lang=en-GB", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps", "--disable-extensions", "--mute-audio"]:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB,en"})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
        run(driver, page, hub_json, args, state, relay, check)
    except Exception as error:  # a failed step: say which, keep the picture, still check the network log
        traceback.print_exc()
        check.that(False, f"{type(error).__name__}: {error}")
        driver.save_screenshot(str(state / "dashboard-failure.png"))
    finally:
        requests = []
        try:
            for entry in driver.get_log("performance"):
                message = json.loads(entry["message"])["message"]
                if message["method"] == "Network.requestWillBeSent":
                    requests.append(message["params"]["request"]["url"])
        except WebDriverException as error:
            check.that(False, f"the browser's network log could not be read: {error}")
        driver.quit()
    outside = [u for u in requests if not (u.startswith(f"http://127.0.0.1:{relay.port}/") or u.startswith(("data:", "blob:")))]
    check.that(requests and not outside, f"{len(requests)} requests, all to the hub on loopback" + (f"; outside: {outside[:5]}" if outside else ""))
    if check.failures:
        print(f"dashboard: {len(check.failures)} failed: " + "; ".join(check.failures), file=sys.stderr)
        sys.exit(1)
    print("dashboard: every check passed", file=sys.stderr)


def run(driver, page, hub_json, args, state, relay, check):
    # The hub needs a key: the page asks for one, refuses a wrong one, and keeps the right one in
    # a cookie that scripts cannot read.
    driver.get(f"{page}/?tenant={args.tenant}")
    wait("the login dialog", lambda: driver.execute_script("return document.getElementById('login-dialog').open"), 30)
    check.that(not driver.find_elements(By.CSS_SELECTOR, "#alerts li"), "without a key the page shows the login dialog and no data")
    field = driver.find_element(By.ID, "login-key")
    field.send_keys("kk_0123456789ab_" + "0" * 48)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    refused = wait("the wrong key's error", lambda: driver.find_element(By.ID, "login-error").text, 10)
    check.that("no key has the id" in refused, f"a wrong key is refused with the reason: '{refused}'")
    field.clear()
    field.send_keys(args.key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait("the page to start", lambda: driver.execute_script("return document.body.dataset.ready") == "1", 30)
    wait("the live feed", lambda: driver.find_element(By.ID, "connection").get_attribute("data-state") == "live", 30)
    check.that("kakehashi_key" not in driver.execute_script("return document.cookie"), "the key's cookie is HttpOnly (scripts cannot read it)")
    check.that(driver.find_element(By.ID, "logout").is_displayed(), "a logged-in page offers to log out")
    colours = driver.execute_script("return window.kakehashi.colours")
    driver.execute_script("window.__loadedOnce = 'yes'")
    initial = len(driver.find_elements(By.CSS_SELECTOR, "#alerts li"))
    check.that(initial == 0, f"no alert before the replay ({initial})")
    # Every cue the page gives (the banner), kept for the checks below.
    driver.execute_script("""
        window.__cues = [];
        const box = document.getElementById('banner');
        new MutationObserver(() => { if (!box.hidden) window.__cues.push({text: box.textContent, severity: box.dataset.severity,
            flash: box.classList.contains('flash'), colour: getComputedStyle(box).backgroundColor}); })
          .observe(box, {attributes: true, childList: true, characterData: true, subtree: true});""")
    (state / "dashboard-ready").write_text("ready\n")

    # Alerts raised by the replay appear without a reload.
    wait("an alert raised by the replay in the list", lambda: driver.find_elements(By.CSS_SELECTOR, "#alerts li[data-alert]"), args.timeout)
    check.that(driver.execute_script("return window.__loadedOnce") == "yes", "the first alert appeared without a reload")
    cues = wait("a cue for the raised alert", lambda: driver.execute_script("return window.__cues.filter(c => c.text.startsWith('Raised') && c.flash)"), 10)
    check.that(cues[0]["severity"] in RANK and cues[0]["severity"] != "none", f"a raised alert flashes a banner: '{cues[0]['text']}' ({cues[0]['severity']})")

    # The CAP message linked from the list.
    def cap_link():
        link = driver.find_element(By.CSS_SELECTOR, "#alerts li a.cap")
        return link.get_attribute("data-alert"), urllib.parse.urlparse(link.get_attribute("href"))
    cap_alert, cap_url = wait("a CAP link", cap_link, 10)
    cap_request = urllib.request.Request(f"{args.hub}{cap_url.path}?{cap_url.query}", headers={"Authorization": f"Bearer {args.key}"})
    with urllib.request.urlopen(cap_request, timeout=10) as response:
        cap = response.read().decode()
    check.that(response.headers.get_content_type().endswith("xml") and "urn:oasis:names:tc:emergency:cap:1.2" in cap and "<msgType>" in cap,
               f"the CAP link of alert {cap_alert} gives a CAP 1.2 message ({cap_url.path})")

    # Markers: every located sensor, each in the colour of its most severe active alert.
    def markers_match():
        collection, _ = hub_json(f"/feeds/map.geojson?tenant={args.tenant}", tenant=False)
        expected = {f["id"]: (f["properties"].get("alert") or {}).get("severity", "none") for f in collection["features"]}
        drawn = driver.execute_script("""
            return [...document.querySelectorAll('#map [data-entities]')].map(g => ({
              entities: g.dataset.entities.split(' '), severity: g.dataset.severity,
              fill: getComputedStyle(g.querySelector('.shape')).fill }));""")
        seen = [e for m in drawn for e in m["entities"]]
        if sorted(seen) != sorted(expected) or len(expected) < 20:
            return None
        for marker in drawn:
            worst = max((expected[e] for e in marker["entities"]), key=lambda s: RANK[s])
            if marker["severity"] != worst or marker["fill"] != rgb(colours[worst]):
                return None
        coloured = [m for m in drawn if m["severity"] != "none"]
        return (len(expected), len(drawn), len(coloured)) if coloured else None

    sensors, shapes, coloured = wait("the markers to match the hub's map feed, some in alert colours", markers_match, 90, 0.5)
    check.that(True, f"{sensors} sensors drawn as {shapes} markers/clusters, {coloured} in alert colours, each as the hub's map says")

    # The map during the storm.
    wait("several active alerts", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#alerts li")) >= 3, args.timeout)

    # How fresh each sensor's data is: every alert and every single marker says when its last reading came,
    # never fresher than the hub has (the page re-reads the map every few seconds; at 5,000× the data
    # moves hours meanwhile, so the page may lag, never lead).
    def freshness():
        items = driver.execute_script("""return [...document.querySelectorAll('#alerts li')].map(li => [Number(li.dataset.alert),
            li.querySelector('.seen') ? li.querySelector('.seen').textContent : ''])""")
        labels = driver.execute_script("return [...document.querySelectorAll('#map [data-entities]')].map(g => g.getAttribute('aria-label') || '')")
        if not items or not all("last reading" in text for _, text in items) or not any("last reading" in l for l in labels):
            return None
        return items, labels
    items, labels = wait("each alert and marker to say when its last reading came", freshness, 60, 0.5)
    listed, _ = hub_json(f"/alerts?tenant={args.tenant}&state=active&limit=1000", tenant=False)
    by_id = {a["id"]: a for a in listed}
    def minutes_ago(text):  # (minutes shown, how much the page's rounding down may hide)
        if "just now" in text:
            return 0, 1
        for pattern, factor in ((r"(\d+) min ago", 1), (r"(\d+) h ago", 60), (r"(\d+) days ago", 1440)):
            found = re.search(pattern, text)
            if found:
                return int(found.group(1)) * factor, factor
        return None
    agree = 0
    for alert_id, text in items:
        parsed = minutes_ago(text)
        hub_alert = by_id.get(alert_id)
        if parsed is None or not hub_alert or "lastReadingAt" not in hub_alert:
            continue
        shown, rounding = parsed
        hub_minutes = (time.time() - calendar.timegm(time.strptime(hub_alert["lastReadingAt"][:19], "%Y-%m-%dT%H:%M:%S"))) / 60
        # The page's reading is the hub's or an older one: at least as many minutes ago, less its rounding down.
        if shown + rounding + 0.5 >= hub_minutes:
            agree += 1
    check.that(agree == len(items) - sum(1 for i, _ in items if i not in by_id),
               f"{agree} of {len(items)} alerts say when their sensor's last reading came, never fresher than the hub's lastReadingAt; "
               f"{sum('last reading' in l for l in labels)} markers say it too (e.g. '{next(l for l in labels if 'last reading' in l)}')")
    driver.save_screenshot(str(state / "dashboard-storm.png"))

    # The connection drops while the storm goes on, then comes back: nothing missed, nothing twice.
    relay.cut()
    wait("the page to say the connection is lost", lambda: driver.find_element(By.ID, "connection").get_attribute("data-state") in ("reconnecting", "offline"), 30)
    text = driver.find_element(By.ID, "connection-text").text
    check.that("lost" in text.lower(), f"the page says the connection is lost: '{text}'")
    # Meanwhile another operator acknowledges an alert (straight to the hub): a feed event the page misses.
    missed, _ = hub_json(f"/alerts?tenant={args.tenant}&state=active&limit=1000", tenant=False)
    other = missed[-1]["id"]
    request = urllib.request.Request(f"{args.hub}/alerts/{other}/acknowledge?tenant={args.tenant}", method="POST",
                                     data=json.dumps({"by": "Duty Officer"}).encode(), headers={"Content-Type": "application/json",
                                                                                                  "Authorization": f"Bearer {args.key}"})
    urllib.request.urlopen(request, timeout=10).read()
    relay.restore()
    wait("the page to be live again", lambda: driver.find_element(By.ID, "connection").get_attribute("data-state") == "live", 60)

    def same_as_hub():
        alerts, headers = hub_json(f"/alerts?tenant={args.tenant}&state=active&limit=1000", tenant=False)
        position = int(headers["Kakehashi-Feed-Position"])
        page_state = driver.execute_script("""
            const s = window.kakehashi.state;
            return {last: s.lastEventId, alerts: [...s.alerts.values()].map(a => [a.id, a.stage, a.acknowledgedBy || null]),
                    items: [...document.querySelectorAll('#alerts li')].map(li => Number(li.dataset.alert))};""")
        hub_alerts = sorted([a["id"], a["stage"], a.get("acknowledgedBy")] for a in alerts)
        if page_state["last"] != position or sorted(page_state["alerts"]) != hub_alerts:
            return None
        if sorted(page_state["items"]) != sorted(a[0] for a in hub_alerts) or len(set(page_state["items"])) != len(page_state["items"]):
            return None
        return position, len(hub_alerts)

    position, active = wait("the page's alerts to equal the hub's after the reconnection", same_as_hub, 60, 0.5)
    check.that(True, f"after the drop the page has every feed event (up to {position}) and the same {active} active alerts as the hub")
    check.that("Duty Officer" in driver.find_element(By.CSS_SELECTOR, f"#alerts li[data-alert='{other}']").text,
               f"the acknowledgement of alert {other} made during the drop is shown")

    # Acknowledge, through the dialog.
    alert_id = wait("an alert to acknowledge", lambda: click(driver, "#alerts li [data-action='acknowledge']", "data-alert"), 30)
    field = wait("the acknowledge dialog", lambda: driver.find_element(By.ID, "ack-by") if driver.find_element(By.ID, "ack-dialog").get_attribute("open") is not None else None, 10)
    field.clear()
    field.send_keys("Test Operator 試験")
    driver.find_element(By.ID, "ack-submit").click()
    # The replay goes on at thousands of times real time: the alert may clear (its gauge back under its
    # level for clear_after) before the page shows the acknowledgement; then it leaves the list.
    def acknowledged_or_cleared():
        found = driver.find_elements(By.CSS_SELECTOR, f"#alerts li[data-alert='{alert_id}'] .acknowledged")
        if found and found[0].text:
            return ("shown", found[0].text)
        record, _ = hub_json(f"/alerts/{alert_id}?tenant={args.tenant}", tenant=False)
        if not record.get("active") and not driver.find_elements(By.CSS_SELECTOR, f"#alerts li[data-alert='{alert_id}']"):
            return ("cleared", record.get("clearedAt"))
        return None
    outcome, shown = wait("the list to show who acknowledged (or the alert to clear)", acknowledged_or_cleared, 20)
    stored, _ = hub_json(f"/alerts/{alert_id}?tenant={args.tenant}", tenant=False)
    check.that(stored.get("acknowledgedBy") == "Test Operator 試験" and stored.get("acknowledgedAt"), f"the hub has alert {alert_id} acknowledged by the operator at {stored.get('acknowledgedAt')}")
    if outcome == "shown":
        check.that("Test Operator 試験" in shown, f"the list shows the acknowledgement: '{shown}'")
        check.that(("JST" in shown) or ("GMT+9" in shown), f"times are in the viewer's zone with the zone shown: '{shown}'")
    else:
        check.that(True, f"alert {alert_id} cleared at {shown} (sensor time) before the page showed the acknowledgement, and left the list "
                         "(the acknowledgement made during the drop was shown above)")

    # A gauge's details: latest values, thresholds, the 24 h and 7 d charts with threshold lines.
    # A gauge that has readings in the last 24 h (many report only around the flood peak), opened by its link.
    def recent_gauge():
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 23 * 3600))
        series, _ = hub_json(f"/ngsi-ld/v1/temporal/entities?type=WaterObserved&attrs=waterLevel&timerel=after&timeAt={since}"
                             "&options=temporalValues&limit=1000")
        counts = {item["id"]: len(item.get("waterLevel", {}).get("values", [])) for item in series}
        best = max(counts, key=counts.get, default=None)
        return best if best and counts[best] >= 2 else None
    entity = wait("a gauge with readings in the last 24 h", recent_gauge, 120, 1)
    driver.execute_script("location.hash = arguments[0]", "#sensor=" + urllib.parse.quote(entity, safe=""))
    wait("the gauge's details from its link", lambda: driver.find_element(By.ID, "details").get_attribute("data-entity") == entity, 10)
    check.that(driver.execute_script("return window.__loadedOnce") == "yes", f"the link #sensor=… opened {entity} without a reload")

    def chart_points():
        if driver.find_element(By.ID, "chart").get_attribute("data-state") != "loaded":
            return None
        series = driver.find_elements(By.CSS_SELECTOR, "#chart path.series")
        count = int(series[0].get_attribute("data-points")) if series else 0
        return count if count >= 2 else None
    points = wait("the 24 h chart to hold readings", chart_points, 60, 0.5)
    stored, _ = hub_json(f"/ngsi-ld/v1/entities/{urllib.parse.quote(entity, safe='')}")
    levels = sorted(float(line.get_attribute("data-level")) for line in driver.find_elements(By.CSS_SELECTOR, "#chart line.threshold"))
    expected = sorted(stored[name]["value"] for name in ("alertLevel", "dangerLevel") if name in stored)
    values = driver.find_element(By.ID, "details-values").text
    check.that(points >= 2 and levels and levels == expected,
               f"the 24 h chart of {entity} has {points} readings and threshold lines at {levels} (the gauge's own levels: {expected})")
    check.that("waterLevel" in values and " m" in values, f"latest values with units: {values.splitlines()[:2]}")
    check.that(len(driver.find_elements(By.CSS_SELECTOR, "#details-thresholds li .swatch")) >= 1, "the thresholds are listed")
    driver.save_screenshot(str(state / "dashboard-details.png"))
    driver.find_element(By.ID, "range-7d").click()
    wait("the 7-day chart", lambda: driver.find_element(By.ID, "chart").get_attribute("data-state") == "loaded" and driver.find_elements(By.CSS_SELECTOR, "#chart path.band"), 30)
    check.that(True, "the 7-day chart shows hourly averages with their min–max band")

    # Keyboard: Escape closes the details; a marker opens with Enter.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait("the details to close", lambda: not driver.find_element(By.ID, "details").is_displayed(), 10)
    # (the map redraws as the feed goes on; the focused marker keeps its focus, so Enter reaches it)
    def enter_on_marker():
        opened = driver.execute_script("""
            const marker = document.querySelector('#map g.marker[data-entities]');
            marker.focus();
            return document.activeElement.dataset.entities;""")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        return opened
    opened = wait("a marker to take the keyboard focus", enter_on_marker, 10)
    wait("the details of the marker opened with Enter", lambda: driver.find_element(By.ID, "details").get_attribute("data-entity") == opened and driver.find_element(By.ID, "details").is_displayed(), 10)
    check.that(True, "a marker opens from the keyboard")
    driver.find_element(By.ID, "details-close").click()

    # Japanese, then English again.
    driver.find_element(By.ID, "language").click()
    title = driver.find_element(By.ID, "alerts-title").text
    check.that(driver.execute_script("return document.documentElement.lang") == "ja" and "警報" in title, f"Japanese: '{title}'")
    check.that("Asia/Tokyo" in driver.find_element(By.ID, "zone").text, f"the zone is shown: '{driver.find_element(By.ID, 'zone').text}'")
    driver.find_element(By.ID, "language").click()
    check.that("Active alerts" in driver.find_element(By.ID, "alerts-title").text, "English again")

    # A phone: the list under the map, nothing wider than the screen.
    driver.set_window_size(390, 844)
    layout = wait("the phone layout", lambda: driver.execute_script("""
        const map = document.querySelector('.map-panel').getBoundingClientRect(), list = document.querySelector('.alerts-panel').getBoundingClientRect();
        return innerWidth < 500 ? {below: list.top >= map.bottom - 1, wide: document.documentElement.scrollWidth - innerWidth} : null;"""), 10)
    check.that(layout["below"] and layout["wide"] <= 0, f"on a phone the alerts are under the map and nothing scrolls sideways ({layout})")
    check.that(driver.execute_script("return window.__loadedOnce") == "yes", "the page was never reloaded")
    escalations = driver.execute_script("return window.__cues.filter(c => c.text.startsWith('Escalated'))")
    check.that(escalations and all(c["flash"] for c in escalations),
               f"escalations flash a banner ({len(escalations)}, e.g. '{escalations[0]['text'] if escalations else ''}')")

    # Thousands of sensors on screen: drawn as clusters, every sensor in one, the worst colour kept.
    driver.set_window_size(1600, 1000)
    crowd = driver.execute_script("""
        const sensors = [];
        for (let i = 0; i < 5000; i++) sensors.push({ id: `urn:ngsi-ld:WaterObserved:load:${i}`, lon: 133.5 + (i % 100) * 0.012,
          lat: 33.4 + Math.floor(i / 100) * 0.012, type: 'WaterObserved', name: `g${i}`,
          severity: i % 97 ? 'none' : 'critical', rank: i % 97 ? 0 : 500 });
        const map = window.kakehashi.map, started = performance.now();
        map.setSensors(sensors); map.fit();
        const drawn = [...document.querySelectorAll('#map [data-entities]')];
        return { ms: performance.now() - started, shapes: drawn.length,
                 sensors: new Set(drawn.flatMap(g => g.dataset.entities.split(' '))).size,
                 critical: drawn.filter(g => g.dataset.severity === 'critical').length };""")
    check.that(crowd["sensors"] == 5000 and crowd["shapes"] <= 600 and crowd["critical"] >= 1,
               f"5,000 sensors drawn as {crowd['shapes']} markers/clusters in {crowd['ms']:.0f} ms, every one in a marker, "
               f"{crowd['critical']} in the critical colour")


def click(driver, selector, attribute, relative=None):
    """Clicks the first element matching selector and returns an attribute of it (or of the element at
    the relative XPath); the live list may replace the element in between: then wait() tries again."""
    element = driver.find_element(By.CSS_SELECTOR, selector)
    value = (element.find_element(By.XPATH, relative) if relative else element).get_attribute(attribute)
    element.click()
    return value


def rgb(hex_colour):
    value = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(value[i:i + 2], 16) for i in (0, 2, 4)))


if __name__ == "__main__":
    main()
