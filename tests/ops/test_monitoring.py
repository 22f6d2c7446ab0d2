"""Monitoring files: Prometheus scrape config, Grafana dashboard and provisioning, compose file.

The dashboard's metric names are checked three ways: against the names issue #7 fixed, against
docs/METRICS.md, and against what the hot path's and the API's exporters actually serve.
"""

import json
import re
import shutil
import subprocess
import tomllib

import yaml

from tests.fixtures import REPO
from tests.ops.dashboard import dashboard_metrics, promql_metrics
from tripwire.config.settings import ApiSettings, MetricsSettings

OPS = REPO / "ops"
DASHBOARD = OPS / "grafana" / "tripwire.json"

# The contract (issue #7), as series names in a scrape.
HOTPATH = {
    "tripwire_hotpath_messages_total",
    "tripwire_hotpath_faults_total",
    "tripwire_hotpath_triggers_fired_total",
    "tripwire_hotpath_tick_to_order_seconds_bucket",
    "tripwire_hotpath_tick_to_decision_seconds_bucket",
    "tripwire_hotpath_ws_lag_seconds",
    "tripwire_hotpath_reconnects_total",
    "tripwire_hotpath_connection_state",
    "tripwire_hotpath_trading_state",
    "tripwire_hotpath_breaker_trips_total",
    "tripwire_hotpath_bus_drops_total",
    "tripwire_hotpath_equity_usd",
    "tripwire_hotpath_pnl_usd",
    "tripwire_hotpath_position_notional_usd",
    "tripwire_hotpath_open_orders",
    # market making (issue #15): inventory skew, rebates, quote uptime, fill rate
    "tripwire_hotpath_fees_usd_total",
    "tripwire_hotpath_quote_inventory_skew",
    "tripwire_hotpath_quote_active",
    "tripwire_hotpath_quote_orders_total",
    "tripwire_hotpath_quote_fills_total",
}
FLOWS = {
    "tripwire_flows_runs_total",
    "tripwire_flows_run_duration_seconds_bucket",
    "tripwire_flows_llm_latency_seconds_bucket",
    "tripwire_flows_fallbacks_total",
    "tripwire_flows_decisions_total",
    "tripwire_recorder_documents_total",
}
API = {"tripwire_api_requests_total", "tripwire_api_request_duration_seconds_bucket"}


def base_name(series: str) -> str:
    return re.sub(r"_(total|bucket|sum|count)$", "", series)


# -- the dashboard ---------------------------------------------------------------------------


def test_promql_extraction_skips_functions_labels_and_keywords():
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{job="x(y)"}[5m]))) '
        "* 1e3 + on(job) group_left(instance) up offset 5m"
    )
    assert promql_metrics(expr) == {"a_bucket", "up"}


def test_dashboard_queries_exactly_the_contracted_metrics():
    assert dashboard_metrics(DASHBOARD) == HOTPATH | FLOWS | API


def test_every_dashboard_metric_is_documented():
    doc = (REPO / "docs" / "METRICS.md").read_text()
    missing = sorted(m for m in dashboard_metrics(DASHBOARD) if base_name(m) not in doc)
    assert missing == []


def test_the_hot_path_exporter_serves_what_the_dashboard_queries():
    from prometheus_client import CollectorRegistry, generate_latest

    from tripwire.hotpath.metrics import HotPathCollector, Snapshot

    c = HotPathCollector()
    c.snapshot = Snapshot(
        messages=(("l2Book", 3),),
        faults=(("bad_json", 1),),
        triggers=(("squeeze_up", "BTC", 1),),
        ws_lag_s=0.1,
        breaker_trips=(("latency", 1),),
        bus_drops=(("md.book.BTC", 2),),
        positions=(("BTC", 250.0),),
        tick_to_order=(("0.001", 1), ("+Inf", 1)),
        tick_to_decision=(("1.0", 1), ("+Inf", 1)),
        fees=(("paid", 1.5), ("rebates", 0.25)),
        quote_inventory_skew=(("BTC", "on", -0.5),),
        quote_active=(("BTC", "on", 1.0),),
        quote_orders=(("BTC", "on", 10),),
        quote_fills=(("BTC", "on", 2),),
    )
    reg = CollectorRegistry()
    reg.register(c)
    served = set(re.findall(r"^([a-zA-Z_:][\w:]*)", generate_latest(reg).decode(), re.M))
    assert {m for m in dashboard_metrics(DASHBOARD) if m.startswith("tripwire_hotpath_")} <= served


def test_the_api_exporter_serves_what_the_dashboard_queries():
    from prometheus_client import generate_latest

    from tripwire.api.metrics import ApiMetrics

    m = ApiMetrics()
    m.requests.labels("/status", "GET", "200").inc()
    m.duration.labels("/status").observe(0.01)
    served = set(re.findall(r"^([a-zA-Z_:][\w:]*)", generate_latest(m.registry).decode(), re.M))
    assert {x for x in dashboard_metrics(DASHBOARD) if x.startswith("tripwire_api_")} <= served


def test_dashboard_panels_use_the_provisioned_datasource_and_do_not_overlap():
    doc = json.loads(DASHBOARD.read_text())
    ds = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    panels = doc["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for p in panels:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == uid and p["targets"], p["title"]
            assert all(t["datasource"]["uid"] == uid for t in p["targets"])
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in (
        "pnl",
        "position",
        "tick → order latency",
        "trading state",
        "breaker",
        "trigger rate",
        "message rates",
        "zeromq drops",
        "llm latency",
        "fallbacks",
        "api latency",
        "inventory skew",
        "maker rebates",
        "quote uptime",
        "fill rate",
    ):
        assert topic in titles


def test_dashboard_provisioning_points_at_the_mounted_dashboard():
    prov = yaml.safe_load((OPS / "grafana/provisioning/dashboards/tripwire.yml").read_text())
    compose = yaml.safe_load((OPS / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = prov["providers"][0]["options"]["path"]
    assert any(v.startswith("./grafana/tripwire.json:" + path + "/") for v in mounts)
    assert any(v.startswith("./grafana/provisioning:/etc/grafana/provisioning") for v in mounts)


# -- Prometheus ------------------------------------------------------------------------------


def test_prometheus_config_is_valid():
    path = OPS / "prometheus.yml"
    if shutil.which("promtool"):
        r = subprocess.run(
            ["promtool", "check", "config", "--syntax-only", str(path)], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, r.stdout + r.stderr
    cfg = yaml.safe_load(path.read_text())
    assert set(cfg) <= {"global", "scrape_configs", "rule_files", "alerting"}
    assert re.fullmatch(r"\d+[smh]", cfg["global"]["scrape_interval"])
    jobs = [j["job_name"] for j in cfg["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    for job in cfg["scrape_configs"]:
        assert set(job) <= {
            "job_name",
            "scrape_interval",
            "scrape_timeout",
            "metrics_path",
            "authorization",
            "static_configs",
            "scheme",
        }, job["job_name"]
        for sc in job["static_configs"]:
            assert all(re.fullmatch(r"[\w.-]+:\d+", t) for t in sc["targets"])


def test_prometheus_scrapes_every_process_on_its_configured_port():
    cfg = yaml.safe_load((OPS / "prometheus.yml").read_text())
    targets = {j["job_name"]: j for j in cfg["scrape_configs"]}
    m = MetricsSettings()
    expected = {
        "tripwire-hotpath": m.hotpath_port,
        "tripwire-dispatch": m.dispatcher_port,
        "tripwire-recorder": m.recorder_port,
        "tripwire-api": ApiSettings().port,
        "prefect": 4200,
    }
    for job, port in expected.items():
        assert targets[job]["static_configs"][0]["targets"] == [f"127.0.0.1:{port}"], job
    assert targets["prefect"]["metrics_path"] == "/api/metrics"
    compose = yaml.safe_load((OPS / "docker-compose.yml").read_text())
    secret = compose["services"]["prometheus"]["secrets"][0]
    assert targets["tripwire-api"]["authorization"]["credentials_file"] == f"/run/secrets/{secret}"


# -- docker compose --------------------------------------------------------------------------


def test_compose_runs_the_supporting_services():
    compose = yaml.safe_load((OPS / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"mongodb", "postgres", "prefect-server", "prometheus", "grafana"}
    for name, svc in services.items():
        assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    url = services["prefect-server"]["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    pinned = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    prefect = next(d for d in pinned if d.startswith("prefect=="))
    assert services["prefect-server"]["image"].split(":")[1].startswith(prefect.split("==")[1] + "-")
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]


def test_compose_bind_mounts_exist_in_the_repository():
    compose = yaml.safe_load((OPS / "docker-compose.yml").read_text())
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (OPS / src).exists(), f"{name}: {src} missing"
    # the secret is created by the operator, and never committed
    ignore = (OPS / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore
    assert compose["secrets"]["tripwire_api_read_key"]["file"].startswith("./secrets/")


def test_compose_passwords_come_from_the_documented_environment_file():
    text = (OPS / "docker-compose.yml").read_text()
    template = (OPS / "systemd" / "tripwire.env.example").read_text()
    for var in set(re.findall(r"\$\{(\w+):\?", text)):
        assert f"\n{var}=" in template, var
