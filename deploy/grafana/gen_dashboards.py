#!/usr/bin/env python3
"""Generates the Grafana dashboards in dashboards/*.json.

The JSON files are the source Grafana loads and `tests/dashboards.rs` checks;
this script only keeps the ten per-metric panels of each dashboard consistent.
Edit it, run `python3 deploy/grafana/gen_dashboards.py` from the repository
root, and commit the regenerated JSON with it.
"""

import json
import os

TAG = "asc-perf-exporter"
DS = {"type": "prometheus", "uid": "${datasource}"}

# (category, Apple identifier, family base name, Grafana unit, title)
# The family is `asc_<snake>` + unit suffix (docs/metrics.md; a kept unit that starts
# with the metric, terminationsPerDay, does not repeat it: `_per_day`). Units: Apple's
# MB are 10^6 bytes, so sizes use Grafana's SI bytes (`decbytes`) and show the
# same numbers as App Store Connect; rates Apple gives in its own unit keep it.
METRICS = [
    ("LAUNCH", "launchTime", "asc_launch_time", "_seconds", "s", "Launch time"),
    ("HANG", "hangRate", "asc_hang_rate", "_seconds_per_hour", "suffix: s/h", "Hang rate"),
    ("MEMORY", "peakMemory", "asc_peak_memory", "_bytes", "decbytes", "Peak memory"),
    ("MEMORY", "memoryAtSuspension", "asc_memory_at_suspension", "_bytes", "decbytes", "Memory at suspension"),
    ("DISK", "logicalWrites", "asc_logical_writes", "_bytes", "decbytes", "Logical writes (per day)"),
    ("BATTERY", "batteryUsage", "asc_battery_usage", "_percent_per_day", "suffix: %/day", "Battery usage"),
    ("BATTERY", "onScreenBatteryUsage", "asc_on_screen_battery_usage", "_percent_per_hour", "suffix: %/h", "On-screen battery usage"),
    ("TERMINATION", "terminations", "asc_terminations", "_per_day", "suffix: /day", "Terminations"),
    ("ANIMATION", "scrollHitchRate", "asc_scroll_hitch_rate", "_ratio", "percentunit", "Scroll hitch rate"),
    ("STORAGE", "documentsAndData", "asc_documents_and_data", "_bytes", "decbytes", "Documents and data"),
]
# Metrics Apple gives goal bands for (App Store Connect API 4.4 release notes:
# battery usage, disk writes, hang rate, hitches, memory, storage). Panels of
# the others have no goal columns; add an identifier here when Apple adds goals.
WITH_GOALS = {
    "hangRate",
    "peakMemory",
    "memoryAtSuspension",
    "logicalWrites",
    "batteryUsage",
    "onScreenBatteryUsage",
    "scrollHitchRate",
    "documentsAndData",
}
CATEGORIES = ["LAUNCH", "HANG", "MEMORY", "DISK", "BATTERY", "TERMINATION", "ANIMATION", "STORAGE"]
CATEGORY_TITLES = {
    "LAUNCH": "Launch",
    "HANG": "Hangs",
    "MEMORY": "Memory",
    "DISK": "Disk writes",
    "BATTERY": "Battery",
    "TERMINATION": "Terminations",
    "ANIMATION": "Animation",
    "STORAGE": "Storage",
}

GOAL_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "good": {"color": "green", "index": 0, "text": "good"},
            "fair": {"color": "orange", "index": 1, "text": "fair"},
            "poor": {"color": "red", "index": 2, "text": "poor"},
        },
    }
]

# Lower is better for every Apple metric: a positive change is a regression.
CHANGE_THRESHOLDS = {
    "mode": "absolute",
    "steps": [
        {"color": "green", "value": None},
        {"color": "orange", "value": 0.05},
        {"color": "red", "value": 0.1},
    ],
}


def thresholds(*steps):
    out = [{"color": steps[0], "value": None}]
    for i in range(1, len(steps), 2):
        out.append({"color": steps[i + 1], "value": steps[i]})
    return {"mode": "absolute", "steps": out}


# ----- building blocks ----------------------------------------------------------


class Dash:
    def __init__(self, uid, title, description, tags, variables, time="now-7d", refresh=""):
        self.uid = uid
        self.title = title
        self.description = description
        self.tags = [TAG] + tags
        self.variables = variables
        self.time = time
        self.refresh = refresh
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.current_row = None

    def _place(self, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def newline(self):
        if self.x:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0

    def row(self, title, collapsed=False):
        self.newline()
        p = {
            "id": self.next_id,
            "type": "row",
            "title": title,
            "collapsed": collapsed,
            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
            "panels": [],
        }
        self.next_id += 1
        self.y += 1
        self.panels.append(p)
        self.current_row = p if collapsed else None
        return p

    def add(self, panel, w, h):
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = self._place(w, h)
        if self.current_row is not None:
            self.current_row["panels"].append(panel)
        else:
            self.panels.append(panel)
        return panel

    def to_json(self):
        return {
            "__inputs": [],
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "hide": True,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
            "description": self.description,
            "editable": True,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": None,
            "links": [
                {
                    "asDropdown": False,
                    "icon": "external link",
                    "includeVars": True,
                    "keepTime": True,
                    "tags": [TAG],
                    "targetBlank": False,
                    "title": "App Store Connect dashboards",
                    "tooltip": "",
                    "type": "dashboards",
                    "url": "",
                }
            ],
            "liveNow": False,
            "panels": self.panels,
            "refresh": self.refresh,
            "schemaVersion": 39,
            "tags": self.tags,
            "templating": {"list": self.variables},
            "time": {"from": self.time, "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": "",
        }


def target(expr, legend="__auto", ref="A", instant=False, table=False, hide=False):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend,
        "range": not instant,
        "refId": ref,
    }
    t["format"] = "table" if table else "time_series"
    if hide:
        t["hide"] = True
    return t


def field_config(unit, thresholds_=None, mappings=None, overrides=None, custom=None, color=None, decimals=None, min_=None, max_=None):
    d = {
        "unit": unit,
        "color": color or {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": thresholds_ or thresholds("green"),
    }
    if custom is not None:
        d["custom"] = custom
    if decimals is not None:
        d["decimals"] = decimals
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    return {"defaults": d, "overrides": overrides or []}


def panel(kind, title, description, targets, fc, options, transformations=None, links=None, **extra):
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": fc,
        "options": options,
    }
    if transformations:
        p["transformations"] = transformations
    if links:
        p["links"] = links
    p.update(extra)
    return p


def reduce_opts(calcs="lastNotNull", values=False):
    return {"calcs": [calcs], "fields": "", "values": values}


def stat(title, description, targets, unit, thr=None, mappings=None, text_mode="auto", color_mode="background", graph="none", links=None):
    return panel(
        "stat",
        title,
        description,
        targets,
        field_config(unit, thr, mappings),
        {
            "colorMode": color_mode,
            "graphMode": graph,
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": reduce_opts(),
            "showPercentChange": False,
            "textMode": text_mode,
            "wideLayout": True,
        },
        links=links,
    )


def timeseries(title, description, targets, unit, thr=None, overrides=None, draw="line", thr_style="off", min_=None, legend_calcs=None, stack=False):
    custom = {
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        "barAlignment": 0,
        "drawStyle": draw,
        "fillOpacity": 10,
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
        "lineInterpolation": "stepAfter",
        "lineWidth": 1,
        "pointSize": 4,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "auto",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": thr_style},
    }
    return panel(
        "timeseries",
        title,
        description,
        targets,
        field_config(unit, thr, None, overrides, custom, {"mode": "palette-classic"}, min_=min_),
        {
            "legend": {
                "calcs": legend_calcs or [],
                "displayMode": "table" if legend_calcs else "list",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def bargauge(title, description, targets, unit, thr=None, overrides=None, min_=None, max_=None, values=False, display="gradient"):
    return panel(
        "bargauge",
        title,
        description,
        targets,
        field_config(unit, thr, None, overrides, min_=min_, max_=max_),
        {
            "displayMode": display,
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "left",
            "orientation": "horizontal",
            "reduceOptions": reduce_opts(values=values),
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        },
    )


def table(title, description, targets, unit, transformations, overrides=None, thr=None, mappings=None, sort_by=None, links=None, cell="auto"):
    custom = {
        "align": "auto",
        "cellOptions": {"type": cell},
        "filterable": True,
        "inspect": False,
    }
    opts = {
        "cellHeight": "sm",
        "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
        "showHeader": True,
    }
    if sort_by:
        opts["sortBy"] = sort_by
    return panel(
        "table",
        title,
        description,
        targets,
        field_config(unit, thr, mappings, overrides, custom),
        opts,
        transformations=transformations,
        links=links,
    )


def override(matcher_id, matcher_opt, **props):
    out = []
    for k, v in props.items():
        key = {
            "unit": "unit",
            "display": "displayName",
            "hidden": "custom.hidden",
            "cell": "custom.cellOptions",
            "mappings": "mappings",
            "thresholds": "thresholds",
            "color": "color",
            "width": "custom.width",
            "links": "links",
            "decimals": "decimals",
            "min": "min",
            "max": "max",
        }[k]
        out.append({"id": key, "value": v})
    return {"matcher": {"id": matcher_id, "options": matcher_opt}, "properties": out}


def by_name(name, **props):
    return override("byName", name, **props)


def organize(exclude=(), rename=None, order=None):
    return {
        "id": "organize",
        "options": {
            "excludeByName": {k: True for k in exclude},
            "indexByName": {k: i for i, k in enumerate(order or [])},
            "renameByName": rename or {},
            "includeByName": {},
        },
    }


MERGE = {"id": "merge", "options": {}}

# ----- variables ----------------------------------------------------------------


def ds_var():
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def query_var(name, label, query, multi=False, include_all=False, all_value=None, sort=1, regex="", description=""):
    v = {
        "current": {},
        "datasource": DS,
        "definition": query,
        "description": description,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": regex,
        "skipUrlSync": False,
        "sort": sort,
        "type": "query",
    }
    if include_all:
        v["allValue"] = all_value
    return v


def custom_var(name, label, values, default, description=""):
    return {
        "current": {"selected": True, "text": default, "value": default},
        "description": description,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
        "query": ",".join(values),
        "skipUrlSync": False,
        "type": "custom",
    }


def explorer_var():
    """The exporter's explorer (its own URL): data links open signatures there."""
    return {
        "current": {"selected": False, "text": EXPLORER_DEFAULT, "value": EXPLORER_DEFAULT},
        "description": "Base URL of the exporter's explorer (the exporter's own address, as a browser reaches it): signature links open there.",
        "hide": 0,
        "label": "Explorer",
        "name": "explorer",
        "options": [{"selected": True, "text": EXPLORER_DEFAULT, "value": EXPLORER_DEFAULT}],
        "query": EXPLORER_DEFAULT,
        "skipUrlSync": False,
        "type": "textbox",
    }


EXPLORER_DEFAULT = "http://localhost:9472"


def explorer_link(field):
    """A data link from a table cell to the signature's page in the explorer."""
    return [{"title": "Open in the explorer (call stacks, flame graph)", "url": "${explorer}/diagnostics/${__data.fields[\"%s\"]}" % field, "targetBlank": True}]


# Accounts (issue 15): the App Store Connect team of each app; "All" is `.*`
# so that series of an exporter from before the label still match.
def account_var():
    return query_var(
        "account",
        "Account",
        "label_values(asc_app_refresh_failed, account)",
        multi=True,
        include_all=True,
        all_value=".*",
        sort=1,
        description="App Store Connect account (accounts: in the exporter's config; `default` for a single key).",
    )


# Apps: the value is app_id, the text the app name. Every configured app has
# asc_app_refresh_failed, with or without data. Filtered by the account
# variable (app ids are unique across accounts, so panels need only app_id).
APP_QUERY = 'query_result(max by (app_id, app) (asc_app_refresh_failed{account=~"$account"}))'
APP_REGEX = '/app="(?<text>[^"]*)".*app_id="(?<value>[^"]*)"/'


def app_var(multi):
    return query_var(
        "app_id",
        "App",
        APP_QUERY,
        multi=multi,
        include_all=multi,
        all_value=".+" if multi else None,
        sort=5,
        regex=APP_REGEX,
        description="App Store Connect app (value: app_id, shown: app name).",
    )


VALUE_SERIES = '{__name__=~"asc_.+", app_id=~"$app_id", category!="", percentile!=""}'


def device_var(multi, description="Apple's device id (all_iphones, iPhone15,2, ...)."):
    return query_var(
        "device",
        "Device",
        f"label_values({VALUE_SERIES}, device)",
        multi=multi,
        include_all=multi,
        all_value=".+" if multi else None,
        sort=1,
        description=description,
    )


def percentile_var(multi=False):
    return query_var(
        "percentile",
        "Percentile",
        f"label_values({VALUE_SERIES}, percentile)",
        multi=multi,
        include_all=multi,
        all_value=".+" if multi else None,
        sort=1,
        description="p50 (typical user) or p90 (worst 10 %).",
    )


def category_var():
    return query_var(
        "category",
        "Category",
        f"label_values({VALUE_SERIES}, category)",
        multi=True,
        include_all=True,
        all_value=".+",
        sort=1,
        description="Apple's metric category (LAUNCH, HANG, MEMORY, ...).",
    )


def dash_link(uid, title, params):
    return {"title": title, "url": f"/d/{uid}?{params}&${{__url_time_range}}", "targetBlank": False}


# ----- overview -----------------------------------------------------------------

LATEST = "asc_app_latest_version_info"
# The previous version of each app: rank 1 in the exporter's version order
# (asc_app_version_rank counts from the newest, 0 = latest), since PromQL
# cannot order version strings.
PREV = 'asc_app_version_rank{app_id=~"$app_id"} == 1'


def overview():
    d = Dash(
        "asc-overview",
        "App Store Connect: overview",
        "Per app: the latest version's headline value of each Apple metric against the previous version and the goal bands, and the active regressions.",
        ["overview"],
        [
            ds_var(),
            account_var(),
            app_var(multi=True),
            device_var(multi=False, description="Device the headline values are for (all_iphones is Apple's default)."),
            percentile_var(),
            category_var(),
            explorer_var(),
        ],
        time="now-24h",
    )
    f = 'app_id=~"$app_id"'
    d.row("At a glance")
    d.add(
        stat(
            "Active regressions",
            "Apple regression insights currently reported (one per app, metric, device and percentile).",
            [target(f'count(asc_insight_regression_delta_ratio{{{f}, category=~"$category"}}) or vector(0)', "regressions", instant=True)],
            "none",
            thresholds("green", 1, "red"),
            links=[dash_link("asc-regressions", "Regressions", "${app_id:queryparam}")],
        ),
        4,
        4,
    )
    d.add(
        stat(
            "High-impact regressions",
            "Regressions Apple flags as high impact.",
            [target(f'count(asc_insight_regression_delta_ratio{{{f}, category=~"$category", high_impact="true"}}) or vector(0)', "high impact", instant=True)],
            "none",
            thresholds("green", 1, "red"),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Trending up",
            "Trending-up insights: a metric rising over the last versions.",
            [target(f'count(asc_insight_trending_up_delta_ratio{{{f}, category=~"$category"}}) or vector(0)', "trending up", instant=True)],
            "none",
            thresholds("green", 1, "orange"),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Poor goal band (latest version)",
            "Metrics of the latest versions whose value falls in Apple's poor band, at the selected device and percentile.",
            [
                target(
                    f'count(asc_metric_goal_info{{build="", {f}, category=~"$category", device="$device", percentile="$percentile", goal="poor"}}'
                    f" * on(app_id, platform, version) group_left() {LATEST}) or vector(0)",
                    "poor",
                    instant=True,
                )
            ],
            "none",
            thresholds("green", 1, "red"),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Apps failing to refresh",
            "Apps whose latest refresh failed; their numbers are the last good data.",
            [target(f"sum(asc_app_refresh_failed{{{f}}}) or vector(0)", "failing", instant=True)],
            "none",
            thresholds("green", 1, "red"),
            links=[dash_link("asc-exporter-health", "Exporter health", "${app_id:queryparam}")],
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Apps without data",
            "Apps for which Apple returned no metrics yet (too few devices reported): not measured, not zero.",
            [target(f'count(asc_data_available{{{f}, scope="app"}} == 0) or vector(0)', "no data", instant=True)],
            "none",
            thresholds("green", 1, "orange"),
        ),
        4,
        4,
    )
    d.add(
        table(
            "Latest version per app",
            "The newest app version in Apple's data, per app and platform.",
            [target(f"{LATEST}{{{f}}}", instant=True, table=True)],
            "none",
            [organize(exclude=["Time", "Value", "__name__", "instance", "job"], rename={"app": "App", "app_id": "App id", "bundle_id": "Bundle id", "platform": "Platform", "version": "Latest version"})],
            links=[dash_link("asc-versions", "Versions", "${app_id:queryparam}")],
        ),
        8,
        8,
    )
    d.add(
        table(
            "Active regressions",
            "Every active regression insight: the change of the latest version against the reference versions' average. High-impact ones in red.",
            [
                target(
                    f'asc_insight_regression_delta_ratio{{{f}, category=~"$category"}}',
                    instant=True,
                    table=True,
                )
            ],
            "percentunit",
            [
                organize(
                    exclude=["Time", "__name__", "instance", "job", "app_id", "bundle_id"],
                    rename={"app": "App", "category": "Category", "metric": "Metric", "device": "Device", "percentile": "Percentile", "latest_version": "Version", "high_impact": "High impact", "Value": "Change"},
                    order=["app", "latest_version", "category", "metric", "device", "percentile", "high_impact", "Value"],
                )
            ],
            overrides=[
                by_name("Change", cell={"type": "color-background", "mode": "basic"}, thresholds=CHANGE_THRESHOLDS),
                by_name(
                    "High impact",
                    unit="none",
                    cell={"type": "color-background", "mode": "basic"},
                    mappings=[{"type": "value", "options": {"true": {"color": "red", "index": 0, "text": "HIGH IMPACT"}, "false": {"color": "transparent", "index": 1, "text": "no"}}}],
                ),
            ],
            sort_by=[{"displayName": "Change", "desc": True}],
            links=[dash_link("asc-regressions", "Regression details", "${app_id:queryparam}")],
        ),
        16,
        8,
    )
    d.add(
        table(
            "Goal band per metric (latest version)",
            "Apple's goal band (good / fair / poor) each metric of the latest version falls in, at the selected device and percentile.",
            [
                target(
                    f'asc_metric_goal_info{{build="", {f}, category=~"$category", device="$device", percentile="$percentile"}}'
                    f" * on(app_id, platform, version) group_left() {LATEST}",
                    instant=True,
                    table=True,
                )
            ],
            "none",
            [
                {"id": "groupingToMatrix", "options": {"columnField": "metric", "rowField": "app", "valueField": "goal", "emptyValue": "empty"}},
                organize(rename={"app\\metric": "App"}),
            ],
            overrides=[override("byType", "string", cell={"type": "color-background", "mode": "basic"}, mappings=GOAL_MAPPINGS)],
        ),
        24,
        6,
    )

    d.row("Top call sites (performance overview)")
    site = f'app_id=~"$app_id"'
    location = (
        f'label_replace(label_join(asc_top_signature_info{{{site}}}, "location", ":", "source_file", "line"), '
        '"location", "$1", "location", "(.*):")'
    )
    keys = "app, app_id, diagnostic_type, signature_id"
    d.add(
        table(
            "Top call sites",
            "The heaviest hang, launch and disk-write call sites of each app in Apple's performance overview (API 4.5): "
            "type, `file:line`, the symbolicated signature, its weight (share of the app's total of that type), "
            "the occurrences Apple counted and Apple's trend.",
            [
                target(f"max by ({keys}, location, signature, trend) ({location})", ref="A", instant=True, table=True),
                target(f"max by ({keys}) (asc_top_signature_weight_ratio{{{site}}})", ref="B", instant=True, table=True),
                target(f"max by ({keys}) (asc_top_signature_occurrences{{{site}}})", ref="C", instant=True, table=True),
            ],
            "none",
            [
                MERGE,
                organize(
                    exclude=["Time", "Value #A", "app_id"],
                    rename={
                        "app": "App",
                        "diagnostic_type": "Type",
                        "location": "File:line",
                        "signature": "Signature",
                        "signature_id": "Signature id",
                        "Value #B": "Weight",
                        "Value #C": "Count",
                        "trend": "Trend",
                    },
                    order=["app", "diagnostic_type", "location", "signature", "Value #B", "Value #C", "trend", "signature_id"],
                ),
            ],
            overrides=[
                by_name("Weight", unit="percentunit", cell={"type": "gauge", "mode": "basic", "valueDisplayMode": "text"}, min=0, max=1),
                by_name("Signature", links=explorer_link("Signature id")),
                by_name(
                    "Trend",
                    cell={"type": "color-text"},
                    mappings=[{"type": "value", "options": {"UP": {"color": "red", "index": 0, "text": "UP ▲"}, "DOWN": {"color": "green", "index": 1, "text": "DOWN ▼"}}}],
                ),
            ],
            sort_by=[{"displayName": "Weight", "desc": True}],
            links=[dash_link("asc-diagnostics", "Diagnostics", "${app_id:queryparam}")],
        ),
        24,
        8,
    )

    sel = f'build="", {f}, device="$device", percentile="$percentile"'
    for cat in CATEGORIES:
        metrics = [m for m in METRICS if m[0] == cat]
        d.row(f"{CATEGORY_TITLES[cat]} ({cat})")
        for (_, ident, base, suffix, unit, title) in metrics:
            fam = base + suffix
            latest_inner = f"{fam}{{{sel}}} * on(app_id, platform, version) group_left() {LATEST}"
            prev_inner = f"{fam}{{{sel}}} and on(app_id, version) ({PREV})"
            targets = [
                target(f"max by (app, version) ({latest_inner})", ref="A", instant=True, table=True),
                target(
                    f'max by (app, previous_version) (label_replace({prev_inner}, "previous_version", "$1", "version", "(.*)"))',
                    ref="B",
                    instant=True,
                    table=True,
                ),
                target(f"max by (app) ({latest_inner}) / max by (app) ({prev_inner}) - 1", ref="C", instant=True, table=True),
            ]
            if ident in WITH_GOALS:
                targets += [
                    target(
                        f'max by (app, goal) (asc_metric_goal_info{{{sel}, metric="{ident}"}} * on(app_id, platform, version) group_left() {LATEST})',
                        ref="D",
                        instant=True,
                        table=True,
                    ),
                    target(f'max by (app) ({base}_goal_lower_bound{suffix}{{build="", {f}, goal="fair"}})', ref="E", instant=True, table=True),
                    target(f'max by (app) ({base}_goal_lower_bound{suffix}{{build="", {f}, goal="poor"}})', ref="F", instant=True, table=True),
                    target(f"max by (app) ({base}_recommended_goal{suffix}{{{sel}}})", ref="G", instant=True, table=True),
                ]
            d.add(
                table(
                    title,
                    f"`{fam}` at the selected device and percentile: the latest version, the previous version, the change between them (positive = worse), "
                    "the goal band the latest value falls in, where Apple's fair and poor bands start, and Apple's recommended goal.",
                    targets,
                    unit,
                    [
                        MERGE,
                        organize(
                            exclude=["Time", "Value #D"],
                            rename={
                                "app": "App",
                                "version": "Latest version",
                                "Value #A": "Latest",
                                "previous_version": "Previous version",
                                "Value #B": "Previous",
                                "Value #C": "Change",
                                "goal": "Goal band",
                                "Value #E": "Fair from",
                                "Value #F": "Poor from",
                                "Value #G": "Recommended goal",
                            },
                            order=["app", "version", "Value #A", "previous_version", "Value #B", "Value #C", "goal", "Value #E", "Value #F", "Value #G"],
                        ),
                    ],
                    overrides=[
                        by_name("Change", unit="percentunit", cell={"type": "color-text"}, thresholds=CHANGE_THRESHOLDS),
                        by_name("Goal band", unit="none", cell={"type": "color-background", "mode": "basic"}, mappings=GOAL_MAPPINGS),
                    ],
                    links=[dash_link("asc-versions", "All versions", "${app_id:queryparam}&${device:queryparam}")],
                ),
                12,
                6,
            )
    return d


# ----- versions -----------------------------------------------------------------


def versions():
    d = Dash(
        "asc-versions",
        "App Store Connect: metrics across versions",
        "Each Apple metric across the app's versions, p50 beside p90, per device, with the error margin and the goal band.",
        ["versions"],
        [
            ds_var(),
            account_var(),
            app_var(multi=False),
            query_var(
                "version",
                "Version",
                'label_values({__name__=~"asc_.+", app_id="$app_id", category!="", version!=""}, version)',
                multi=True,
                include_all=True,
                all_value=".+",
                sort=7,
                description="App marketing versions to show.",
            ),
            device_var(multi=True),
        ],
        time="now-30d",
    )
    sel = 'build="", app_id="$app_id", version=~"$version", device=~"$device"'
    d.add(
        table(
            "Versions in the data",
            "Every version with app-level metrics, and whether it is the latest. Builds the exporter follows are on the diagnostics dashboard.",
            [
                target(f'count by (version) ({{__name__=~"asc_.+", {sel}, category!="", percentile!=""}})', ref="A", instant=True, table=True),
                target(f'max by (version) ({LATEST}{{app_id="$app_id", version=~"$version"}})', ref="B", instant=True, table=True),
            ],
            "none",
            [
                MERGE,
                organize(exclude=["Time"], rename={"version": "Version", "Value #A": "Series", "Value #B": "Latest"}),
            ],
            overrides=[by_name("Latest", mappings=[{"type": "value", "options": {"1": {"color": "green", "index": 0, "text": "latest"}}}], cell={"type": "color-text"})],
            sort_by=[{"displayName": "Version", "desc": True}],
        ),
        24,
        5,
    )
    for cat in CATEGORIES:
        d.row(f"{CATEGORY_TITLES[cat]} ({cat})")
        for (_, ident, base, suffix, unit, title) in [m for m in METRICS if m[0] == cat]:
            fam = base + suffix
            margin = f"{base}_error_margin{suffix}"

            def q(family, pct, ref):
                return target(
                    f'max by (version, device) ({family}{{{sel}, percentile="{pct}"}})',
                    ref=ref,
                    instant=True,
                    table=True,
                )

            d.add(
                table(
                    title,
                    f"`{fam}` per version (rows) and device: p50 beside p90, each with Apple's error margin, and the goal band of the p50 and p90 values. "
                    "Bars are scaled to the largest value shown.",
                    [
                        q(fam, "p50", "A"),
                        q(margin, "p50", "B"),
                        q(fam, "p90", "C"),
                        q(margin, "p90", "D"),
                    ]
                    + (
                        [
                            target(
                                f'max by (version, device, p50_goal) (label_replace(asc_metric_goal_info{{{sel}, metric="{ident}", percentile="p50"}}, "p50_goal", "$1", "goal", "(.*)"))',
                                ref="E",
                                instant=True,
                                table=True,
                            ),
                            target(
                                f'max by (version, device, p90_goal) (label_replace(asc_metric_goal_info{{{sel}, metric="{ident}", percentile="p90"}}, "p90_goal", "$1", "goal", "(.*)"))',
                                ref="F",
                                instant=True,
                                table=True,
                            ),
                        ]
                        if ident in WITH_GOALS
                        else []
                    ),
                    unit,
                    [
                        MERGE,
                        organize(
                            exclude=["Time", "Value #E", "Value #F"],
                            rename={
                                "version": "Version",
                                "device": "Device",
                                "Value #A": "p50",
                                "Value #B": "p50 ±",
                                "Value #C": "p90",
                                "Value #D": "p90 ±",
                                "p50_goal": "p50 goal",
                                "p90_goal": "p90 goal",
                            },
                            order=["version", "device", "Value #A", "Value #B", "p50_goal", "Value #C", "Value #D", "p90_goal"],
                        ),
                    ],
                    overrides=[
                        by_name("p50", cell={"type": "gauge", "mode": "basic", "valueDisplayMode": "text"}),
                        by_name("p90", cell={"type": "gauge", "mode": "basic", "valueDisplayMode": "text"}),
                        by_name("p50 goal", unit="none", cell={"type": "color-text"}, mappings=GOAL_MAPPINGS),
                        by_name("p90 goal", unit="none", cell={"type": "color-text"}, mappings=GOAL_MAPPINGS),
                    ],
                    sort_by=[{"displayName": "Version", "desc": True}],
                ),
                12,
                9,
            )
    d.row("Other metric families", collapsed=True)
    d.add(
        table(
            "Every value family (raw)",
            "Every per-metric value family the exporter serves for the app, including metrics this dashboard has no panel for (new Apple metrics). "
            "Values are in the unit in the family name; no unit conversion is shown.",
            [
                target(
                    f'{{__name__=~"asc_.+", __name__!~"asc_(metric|insight)_.+|.+_error_margin_.+|.+_error_margin", {sel}, category!="", percentile!=""}}',
                    instant=True,
                    table=True,
                )
            ],
            "none",
            [organize(exclude=["Time", "instance", "job", "app_id", "app", "bundle_id", "platform", "device_name"], rename={"__name__": "Family", "Value": "Value"})],
        ),
        24,
        10,
    )
    return d


# ----- regressions --------------------------------------------------------------

UNIT_CLASSES = [
    ("time metrics", "_seconds", "s"),
    ("size metrics", "_bytes", "decbytes"),
    ("ratio metrics", "_ratio", "percentunit"),
]


def regressions():
    d = Dash(
        "asc-regressions",
        "App Store Connect: regressions",
        "Apple's regression and trending-up insights with their delta, latest and reference values. High-impact insights are red.",
        ["regressions"],
        [
            ds_var(),
            account_var(),
            app_var(multi=True),
            category_var(),
            device_var(multi=True),
            percentile_var(multi=True),
        ],
        time="now-30d",
    )
    f = 'app_id=~"$app_id", category=~"$category", device=~"$device", percentile=~"$percentile"'
    red = {"mode": "fixed", "fixedColor": "red"}
    orange = {"mode": "fixed", "fixedColor": "orange"}
    d.row("Summary")
    for title, expr, w, thr in [
        ("Active regressions", f"count(asc_insight_regression_delta_ratio{{{f}}}) or vector(0)", 6, thresholds("green", 1, "red")),
        ("High-impact regressions", f'count(asc_insight_regression_delta_ratio{{{f}, high_impact="true"}}) or vector(0)', 6, thresholds("green", 1, "red")),
        ("Trending-up insights", f"count(asc_insight_trending_up_delta_ratio{{{f}}}) or vector(0)", 6, thresholds("green", 1, "orange")),
        ("Apps with regressions", f"count(count by (app_id) (asc_insight_regression_delta_ratio{{{f}}})) or vector(0)", 6, thresholds("green", 1, "red")),
    ]:
        d.add(stat(title, f"{title} for the selected apps, categories, devices and percentiles.", [target(expr, title.lower(), instant=True)], "none", thr), w, 4)

    for kind, fam, title in [
        ("regression", "asc_insight_regression_delta_ratio", "Regressions: change against the reference versions"),
        ("trending_up", "asc_insight_trending_up_delta_ratio", "Trending up: change over the last versions"),
    ]:
        legend = "{{app}} {{latest_version}} · {{metric}} · {{device}} {{percentile}}"
        d.add(
            bargauge(
                title,
                f"`{fam}`: deltaPercentage / 100 per population. Red bars are high impact (high_impact=\"true\"), orange the others.",
                [
                    target(f'sort_desc({fam}{{{f}, high_impact="true"}})', legend + " (high impact)", ref="A", instant=True),
                    target(f'sort_desc({fam}{{{f}, high_impact="false"}})', legend, ref="B", instant=True),
                ],
                "percentunit",
                thresholds("orange"),
                overrides=[
                    override("byFrameRefID", "A", color=red),
                    override("byFrameRefID", "B", color=orange),
                ],
                min_=0,
            ),
            12,
            10,
        )

    for title, suffix, unit in UNIT_CLASSES + [("metrics in Apple's own units", None, "none")]:
        d.row(f"Latest vs reference: {title}")
        if suffix is None:
            name_re = ".+"
            excl = ', __name__!~".+_(seconds|bytes|ratio)"'
            unit_note = "Values are in the unit named at the end of the family name (Apple's unit, not converted)."
        else:
            name_re = f".+{suffix}"
            excl = ""
            unit_note = ""

        def fam(kind, which):
            return f'{{__name__=~"asc_insight_{kind}_{which}_{name_re}"{excl}, {f}}}'

        def both(which):
            return (
                f'label_replace({fam("regression", which)} * 1, "kind", "regression", "", "")'
                f' or label_replace({fam("trending_up", which)} * 1, "kind", "trending up", "", "")'
            )

        keys = "app_id, metric, device, percentile, latest_version, high_impact"
        delta = (
            f'label_replace(asc_insight_regression_delta_ratio{{{f}}} and on({keys}) {fam("regression", "latest")}, "kind", "regression", "", "")'
            f' or label_replace(asc_insight_trending_up_delta_ratio{{{f}}} and on({keys}) {fam("trending_up", "latest")}, "kind", "trending up", "", "")'
        )
        agg = "max by (kind, app, category, metric, device, percentile, latest_version, high_impact)"
        d.add(
            table(
                f"Insights on {title}",
                "One row per insight population: the change (delta), the latest version's value and the reference versions' average. "
                "High-impact rows are marked red. " + unit_note,
                [
                    target(f"{agg} ({delta})", ref="A", instant=True, table=True),
                    target(f'{agg} ({both("latest")})', ref="B", instant=True, table=True),
                    target(f'{agg} ({both("reference")})', ref="C", instant=True, table=True),
                ],
                unit,
                [
                    MERGE,
                    organize(
                        exclude=["Time"],
                        rename={
                            "kind": "Kind",
                            "app": "App",
                            "category": "Category",
                            "metric": "Metric",
                            "device": "Device",
                            "percentile": "Percentile",
                            "latest_version": "Version",
                            "high_impact": "High impact",
                            "Value #A": "Delta",
                            "Value #B": "Latest",
                            "Value #C": "Reference",
                        },
                        order=["kind", "app", "latest_version", "category", "metric", "device", "percentile", "high_impact", "Value #A", "Value #B", "Value #C"],
                    ),
                ],
                overrides=[
                    by_name("Delta", unit="percentunit", cell={"type": "color-background", "mode": "basic"}, thresholds=CHANGE_THRESHOLDS),
                    by_name(
                        "High impact",
                        unit="none",
                        cell={"type": "color-background", "mode": "basic"},
                        mappings=[{"type": "value", "options": {"true": {"color": "red", "index": 0, "text": "HIGH IMPACT"}, "false": {"color": "transparent", "index": 1, "text": "no"}}}],
                    ),
                ],
                sort_by=[{"displayName": "Delta", "desc": True}],
                links=[dash_link("asc-versions", "Versions of this app", "${app_id:queryparam}")],
            ),
            24,
            8,
        )

    d.row("Over time")
    legend = "{{app}} {{latest_version}} · {{metric}} · {{device}} {{percentile}}"
    d.add(
        timeseries(
            "Regression deltas over time",
            "When insights appeared, grew or went away. High-impact series are red.",
            [
                target(f'asc_insight_regression_delta_ratio{{{f}, high_impact="true"}}', legend + " (high impact)", ref="A"),
                target(f'asc_insight_regression_delta_ratio{{{f}, high_impact="false"}}', legend, ref="B"),
            ],
            "percentunit",
            overrides=[override("byFrameRefID", "A", color=red)],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Trending-up deltas over time",
            "Trending-up insights over time. High-impact series are red.",
            [
                target(f'asc_insight_trending_up_delta_ratio{{{f}, high_impact="true"}}', legend + " (high impact)", ref="A"),
                target(f'asc_insight_trending_up_delta_ratio{{{f}, high_impact="false"}}', legend, ref="B"),
            ],
            "percentunit",
            overrides=[override("byFrameRefID", "A", color=red)],
        ),
        12,
        8,
    )
    return d


# ----- diagnostics --------------------------------------------------------------


def diagnostics():
    sig = "asc_diagnostic_signature_weight_ratio"
    d = Dash(
        "asc-diagnostics",
        "App Store Connect: diagnostics",
        "Top diagnostic signatures by weight per build and diagnostic type, and how a signature's weight moves across builds.",
        ["diagnostics"],
        [
            ds_var(),
            account_var(),
            app_var(multi=False),
            query_var("version", "Version", f'label_values({sig}{{app_id="$app_id"}}, version)', multi=True, include_all=True, all_value=".+", sort=8),
            query_var(
                "build",
                "Build",
                f'label_values({sig}{{app_id="$app_id", version=~"$version"}}, build)',
                multi=False,
                sort=4,
                description="Build for the top-signature panels (newest first).",
            ),
            query_var("diagnostic_type", "Diagnostic type", f'label_values({sig}{{app_id="$app_id"}}, diagnostic_type)', multi=True, include_all=True, all_value=".+", sort=1),
            query_var(
                "signature_id",
                "Signature",
                f'query_result(max by (signature_id, signature) ({sig}{{app_id="$app_id", diagnostic_type=~"$diagnostic_type"}}))',
                multi=True,
                include_all=True,
                all_value=".+",
                sort=1,
                regex='/signature="(?<text>(?:[^"\\\\]|\\\\.)*)".*signature_id="(?<value>[^"]*)"/',
                description="Signatures to follow across builds.",
            ),
            explorer_var(),
            custom_var("top", "Top", ["5", "10", "20"], "10", "How many signatures per build and type."),
        ],
        time="now-30d",
    )
    a = 'app_id="$app_id"'
    d.row("Top signatures in build $build")
    d.add(
        stat(
            "Signatures in build $build",
            "Signatures with a weight in the selected build, per diagnostic type.",
            [target(f'count by (diagnostic_type) ({sig}{{{a}, build="$build", diagnostic_type=~"$diagnostic_type"}})', "{{diagnostic_type}}", instant=True)],
            "none",
            color_mode="value",
            text_mode="value_and_name",
        ),
        6,
        9,
    )
    d.add(
        bargauge(
            "Top $top signatures in build $build by weight",
            "Weight of each signature as a fraction of the build's total for its diagnostic type (the bars of one type add up to at most 100 %).",
            [
                target(
                    f'sort_desc(topk by (diagnostic_type) ($top, {sig}{{{a}, build="$build", diagnostic_type=~"$diagnostic_type"}}))',
                    "{{diagnostic_type}} · {{signature}}",
                    instant=True,
                )
            ],
            "percentunit",
            thresholds("blue", 0.25, "orange", 0.5, "red"),
            min_=0,
            max_=1,
        ),
        18,
        9,
    )
    d.row("Top signatures per build and type")
    d.add(
        table(
            "Top $top signatures per build and type",
            "The heaviest signatures of every build the exporter follows, per diagnostic type.",
            [
                target(
                    f'topk by (build, diagnostic_type) ($top, {sig}{{{a}, version=~"$version", diagnostic_type=~"$diagnostic_type"}})',
                    instant=True,
                    table=True,
                )
            ],
            "percentunit",
            [
                organize(
                    exclude=["Time", "__name__", "instance", "job", "app_id", "app", "bundle_id"],
                    rename={"build": "Build", "version": "Version", "diagnostic_type": "Type", "signature": "Signature", "signature_id": "Signature id", "Value": "Weight"},
                    order=["version", "build", "diagnostic_type", "Value", "signature", "signature_id"],
                )
            ],
            overrides=[
                by_name("Weight", cell={"type": "gauge", "mode": "basic", "valueDisplayMode": "text"}, min=0, max=1),
                by_name("Signature", links=explorer_link("Signature id")),
            ],
            sort_by=[{"displayName": "Build", "desc": True}],
        ),
        24,
        10,
    )
    d.row("Signatures across builds")
    d.add(
        table(
            "Signature weight by build",
            "Rows: signatures (of the selected ones and types); columns: builds. A weight growing from build to build is a signature getting worse.",
            [
                target(
                    f'max by (signature, build) ({sig}{{{a}, version=~"$version", diagnostic_type=~"$diagnostic_type", signature_id=~"$signature_id"}})',
                    instant=True,
                    table=True,
                )
            ],
            "percentunit",
            [
                {"id": "groupingToMatrix", "options": {"columnField": "build", "rowField": "signature", "valueField": "Value", "emptyValue": "null"}},
                organize(rename={"signature\\build": "Signature"}),
            ],
            overrides=[override("byType", "number", cell={"type": "color-background", "mode": "gradient"}, thresholds=thresholds("green", 0.25, "orange", 0.5, "red"))],
        ),
        24,
        10,
    )
    d.add(
        bargauge(
            "Selected signatures per build",
            "The selected signatures' weight in each build (newest builds have the highest numbers).",
            [
                target(
                    f'{sig}{{{a}, version=~"$version", diagnostic_type=~"$diagnostic_type", signature_id=~"$signature_id"}}',
                    "{{signature}} · build {{build}} ({{version}})",
                    instant=True,
                )
            ],
            "percentunit",
            thresholds("blue", 0.25, "orange", 0.5, "red"),
            min_=0,
            max_=1,
        ),
        12,
        10,
    )
    d.add(
        timeseries(
            "Selected signatures' weight over time",
            "Weight of the selected signatures over time, per build: a new build's series starts when the exporter first sees it.",
            [
                target(
                    f'{sig}{{{a}, version=~"$version", diagnostic_type=~"$diagnostic_type", signature_id=~"$signature_id"}}',
                    "{{signature}} · build {{build}}",
                )
            ],
            "percentunit",
            min_=0,
        ),
        12,
        10,
    )
    d.row("Builds")
    d.add(
        table(
            "Builds the exporter follows",
            "Upload time, processing state and whether Apple has metrics for each build (no: not measured yet, never zero).",
            [
                target(f"max by (build, version, processing_state) (asc_build_uploaded_timestamp_seconds{{{a}}}) * 1000", ref="A", instant=True, table=True),
                target(f'max by (build) (asc_data_available{{{a}, scope="build"}})', ref="B", instant=True, table=True),
                target(f"count by (build) ({sig}{{{a}}})", ref="C", instant=True, table=True),
            ],
            "dateTimeAsIso",
            [
                MERGE,
                organize(
                    exclude=["Time"],
                    rename={"build": "Build", "version": "Version", "processing_state": "State", "Value #A": "Uploaded", "Value #B": "Metrics", "Value #C": "Signatures"},
                    order=["build", "version", "processing_state", "Value #A", "Value #B", "Value #C"],
                ),
            ],
            overrides=[
                by_name(
                    "Metrics",
                    unit="none",
                    cell={"type": "color-text"},
                    mappings=[{"type": "value", "options": {"1": {"color": "green", "index": 0, "text": "yes"}, "0": {"color": "orange", "index": 1, "text": "not measured yet"}}}],
                ),
                by_name("Signatures", unit="none"),
            ],
            sort_by=[{"displayName": "Build", "desc": True}],
        ),
        24,
        7,
    )
    return d


# ----- exporter health ----------------------------------------------------------


def health():
    d = Dash(
        "asc-exporter-health",
        "App Store Connect: exporter health",
        "Refresh success and duration, data age, App Store Connect API requests and rate-limit budget, per-app refresh state, and the HTTP server's connections.",
        ["exporter"],
        [
            ds_var(),
            query_var("job", "Job", "label_values(asc_exporter_build_info, job)", multi=True, include_all=True, all_value=".*", sort=1, description="Prometheus job(s) scraping the exporter."),
            account_var(),
            app_var(multi=True),
        ],
        time="now-24h",
        refresh="1m",
    )
    j = 'job=~"$job"'
    # The per-account families (refresh status, API requests and budget)
    # carry `account`; build info and the HTTP server's own metrics do not.
    jc = f'{j}, account=~"$account"'
    ja = f'{jc}, app_id=~"$app_id"'
    d.row("Refresh")
    d.add(
        stat(
            "Last refresh",
            "Whether the latest refresh succeeded for every app (0 also before the first refresh).",
            [target(f"min(asc_exporter_last_refresh_success{{{jc}}})", instant=True)],
            "none",
            thresholds("red", 1, "green"),
            mappings=[{"type": "value", "options": {"1": {"color": "green", "index": 0, "text": "OK"}, "0": {"color": "red", "index": 1, "text": "FAILED"}}}],
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Data age",
            "Time since the latest refresh that succeeded for every app. The default refresh interval is 1 h.",
            [target(f"max(time() - asc_exporter_last_refresh_success_timestamp_seconds{{{jc}}})", instant=True)],
            "s",
            thresholds("green", 7200, "orange", 21600, "red"),
        ),
        4,
        4,
    )
    d.add(stat("Refresh duration", "Wall-clock duration of the latest refresh.", [target(f"max(asc_exporter_refresh_duration_seconds{{{jc}}})", instant=True)], "s", thresholds("green", 300, "orange")), 4, 4)
    d.add(
        stat(
            "Apps failing",
            "Apps whose latest refresh attempt failed (their series are the last good data).",
            [target(f"sum(asc_app_refresh_failed{{{ja}}}) or vector(0)", instant=True)],
            "none",
            thresholds("green", 1, "red"),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Hourly API budget left",
            "Requests left in the hourly App Store Connect rate-limit window, as a share of the limit.",
            [target(f'min(asc_api_rate_limit_remaining{{{jc}, window="hour"}} / asc_api_rate_limit_budget{{{jc}, window="hour"}})', instant=True)],
            "percentunit",
            thresholds("red", 0.1, "orange", 0.25, "green"),
        ),
        4,
        4,
    )
    d.add(
        stat(
            "Exporter version",
            "asc_exporter_build_info: version and revision of the running exporter.",
            [target(f"asc_exporter_build_info{{{j}}}", "{{version}} ({{revision}})", instant=True)],
            "none",
            text_mode="name",
            color_mode="none",
        ),
        4,
        4,
    )
    d.add(
        timeseries(
            "Data age",
            "Age of the exporter's data (time since the latest fully successful refresh) and of each app's data.",
            [
                target(f"time() - asc_exporter_last_refresh_success_timestamp_seconds{{{jc}}}", "exporter ({{instance}})", ref="A"),
                target(f"time() - asc_app_last_refresh_success_timestamp_seconds{{{ja}}}", "{{app}}", ref="B"),
            ],
            "s",
            thresholds("green", 7200, "orange", 21600, "red"),
            thr_style="line",
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Refresh duration and success",
            "Duration of the latest refresh; the success line is 1 when every app refreshed.",
            [
                target(f"asc_exporter_refresh_duration_seconds{{{jc}}}", "duration ({{instance}})", ref="A"),
                target(f"asc_exporter_last_refresh_success{{{jc}}}", "success ({{instance}})", ref="B"),
            ],
            "s",
            overrides=[
                override(
                    "byFrameRefID",
                    "B",
                    unit="none",
                    min=0,
                    max=1,
                    mappings=[{"type": "value", "options": {"1": {"index": 0, "text": "OK"}, "0": {"index": 1, "text": "FAILED"}}}],
                )
            ],
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Refresh progress",
            "Apps done of each account's refresh under way (1 between refreshes, 0 before the first). A cold start publishes each app as it is done; the exporter logs \"refresh progress\" with the estimated time left.",
            [target(f"asc_exporter_refresh_progress_ratio{{{jc}}}", "{{account}} ({{instance}})")],
            "percentunit",
            min_=0,
        ),
        24,
        6,
    )
    d.row("App Store Connect API")
    d.add(
        timeseries(
            "API requests by status",
            "Request rate by HTTP status (or error / timeout). 429 means the rate limit was hit, 5xx Apple's side, 401/403 the key.",
            [target(f"sum by (status) (rate(asc_api_requests_total{{{jc}}}[$__rate_interval]))", "{{status}}")],
            "reqps",
            overrides=[
                override("byRegexp", "2..", color={"mode": "fixed", "fixedColor": "green"}),
                override("byRegexp", "429", color={"mode": "fixed", "fixedColor": "orange"}),
                override("byRegexp", "5..|error|timeout", color={"mode": "fixed", "fixedColor": "red"}),
            ],
            stack=True,
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "API error ratio and retries",
            "Share of requests that did not return 2xx, and the retry rate.",
            [
                target(
                    f'sum(rate(asc_api_requests_total{{{jc}, status!~"2.."}}[$__rate_interval])) / sum(rate(asc_api_requests_total{{{jc}}}[$__rate_interval]))',
                    "non-2xx share",
                    ref="A",
                ),
                target(f"sum(rate(asc_api_retries_total{{{jc}}}[$__rate_interval]))", "retries", ref="B"),
            ],
            "percentunit",
            overrides=[override("byFrameRefID", "B", unit="reqps")],
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        table(
            "Requests in the time range by endpoint and status",
            "Requests per route template and status over the dashboard's time range (increase of asc_api_requests_total).",
            [target(f"round(sum by (endpoint, status) (increase(asc_api_requests_total{{{jc}}}[$__range])))", instant=True, table=True)],
            "none",
            [organize(exclude=["Time"], rename={"endpoint": "Endpoint", "status": "Status", "Value": "Requests"})],
            overrides=[
                by_name(
                    "Status",
                    cell={"type": "color-text"},
                    mappings=[
                        {"type": "regex", "options": {"pattern": "2..", "result": {"color": "green", "index": 0}}},
                        {"type": "regex", "options": {"pattern": "429", "result": {"color": "orange", "index": 1}}},
                        {"type": "regex", "options": {"pattern": "(4|5)..|error|timeout", "result": {"color": "red", "index": 2}}},
                    ],
                )
            ],
            sort_by=[{"displayName": "Requests", "desc": True}],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Rate limit: remaining vs limit",
            "Requests left in each X-Rate-Limit window (solid) against the window's limit (dashed).",
            [
                target(f"asc_api_rate_limit_remaining{{{jc}}}", "remaining ({{window}})", ref="A"),
                target(f"asc_api_rate_limit_budget{{{jc}}}", "limit ({{window}})", ref="B"),
            ],
            "none",
            overrides=[
                {
                    "matcher": {"id": "byFrameRefID", "options": "B"},
                    "properties": [{"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}}],
                }
            ],
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Responses not understood and 401s",
            "Per hour: responses whose body could not be decoded, by endpoint (schema drift, malformed, empty or cut-off bodies; the apps concerned keep their last good data, see AscApiResponseNotUnderstood), 401s that persisted with a freshly minted token (AscAuthenticationFailing) and 401s a fresh token cured (harmless).",
            [
                target(f"sum by (endpoint) (increase(asc_api_decode_errors_total{{{jc}}}[1h]))", "not understood {{endpoint}}", ref="A"),
                target(f"sum(increase(asc_api_auth_failures_total{{{jc}}}[1h]))", "401 that persisted", ref="B"),
                target(f"sum(increase(asc_api_auth_recovered_total{{{jc}}}[1h]))", "401 cured by a new token", ref="C"),
            ],
            "none",
            overrides=[
                override("byFrameRefID", "A", color={"mode": "fixed", "fixedColor": "orange"}),
                override("byFrameRefID", "B", color={"mode": "fixed", "fixedColor": "red"}),
                override("byFrameRefID", "C", color={"mode": "fixed", "fixedColor": "green"}),
            ],
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        stat(
            "Next refresh",
            "When the next refresh is due. Later than the refresh interval while App Store Connect's rate limit holds requests back (the hourly budget is spent, or a 429 asked to wait): no request goes out before then.",
            [target(f"max(asc_exporter_next_refresh_timestamp_seconds{{{jc}}}) * 1000", "next refresh")],
            "dateTimeFromNow",
            color_mode="none",
        ),
        12,
        8,
    )
    d.row("Apps")
    d.add(
        table(
            "Refresh state per app",
            "Per app: whether its latest refresh failed, the age of its data, whether Apple has metrics for it, and its latest version.",
            [
                target(f"max by (app, app_id) (asc_app_refresh_failed{{{ja}}})", ref="A", instant=True, table=True),
                target(f"max by (app, app_id) (time() - asc_app_last_refresh_success_timestamp_seconds{{{ja}}})", ref="B", instant=True, table=True),
                target(f'max by (app, app_id) (asc_data_available{{{ja}, scope="app"}})', ref="C", instant=True, table=True),
                target(f"max by (app, app_id, version) ({LATEST}{{{ja}}})", ref="D", instant=True, table=True),
            ],
            "none",
            [
                MERGE,
                organize(
                    exclude=["Time", "Value #D"],
                    rename={"app": "App", "app_id": "App id", "Value #A": "Refresh", "Value #B": "Data age", "Value #C": "Metrics", "version": "Latest version"},
                    order=["app", "app_id", "Value #A", "Value #B", "Value #C", "version"],
                ),
            ],
            overrides=[
                by_name(
                    "Refresh",
                    cell={"type": "color-background", "mode": "basic"},
                    mappings=[{"type": "value", "options": {"0": {"color": "green", "index": 0, "text": "OK"}, "1": {"color": "red", "index": 1, "text": "FAILED"}}}],
                ),
                by_name("Data age", unit="s", cell={"type": "color-text"}, thresholds=thresholds("green", 7200, "orange", 21600, "red")),
                by_name(
                    "Metrics",
                    cell={"type": "color-text"},
                    mappings=[{"type": "value", "options": {"1": {"color": "green", "index": 0, "text": "yes"}, "0": {"color": "orange", "index": 1, "text": "not measured yet"}}}],
                ),
            ],
            links=[dash_link("asc-overview", "Overview", "${app_id:queryparam}")],
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Apps failing over time",
            "1 while an app's latest refresh attempt failed (stacked: the number of failing apps).",
            [target(f"asc_app_refresh_failed{{{ja}}}", "{{app}}")],
            "none",
            stack=True,
            min_=0,
        ),
        12,
        8,
    )
    d.row("HTTP server")
    d.add(
        timeseries(
            "HTTP connections",
            "Connections open now (scrapers, probes, browsers; capped at web.max_connections) and accepted per hour.",
            [
                target(f"sum by (instance) (asc_exporter_http_connections_open{{{j}}})", "open ({{instance}})", ref="A"),
                target(f"sum by (instance) (increase(asc_exporter_http_connections_accepted_total{{{j}}}[1h]))", "accepted / h ({{instance}})", ref="B"),
            ],
            "none",
            min_=0,
        ),
        12,
        8,
    )
    d.add(
        timeseries(
            "Connections the server closed",
            "Per hour: idle connections evicted at the connection cap (web.max_connections), connections idle past web.idle_timeout, requests whose headers missed web.header_read_timeout, failed TLS handshakes (a plain-HTTP client, a missing or rejected client certificate, a scanner) and failed accepts (usually the file-descriptor limit). All 0 on a healthy exporter with a few scrapers.",
            [
                target(f"sum(increase(asc_exporter_http_connections_evicted_total{{{j}}}[1h]))", "evicted at the cap", ref="A"),
                target(f"sum(increase(asc_exporter_http_connections_idle_closed_total{{{j}}}[1h]))", "idle timeout", ref="B"),
                target(f"sum(increase(asc_exporter_http_header_timeouts_total{{{j}}}[1h]))", "header timeout", ref="C"),
                target(f"sum(increase(asc_exporter_http_tls_handshake_failures_total{{{j}}}[1h]))", "TLS handshake failed", ref="D"),
                target(f"sum(increase(asc_exporter_http_accept_errors_total{{{j}}}[1h]))", "accept failed", ref="E"),
            ],
            "none",
            overrides=[
                override("byFrameRefID", "D", color={"mode": "fixed", "fixedColor": "orange"}),
                override("byFrameRefID", "E", color={"mode": "fixed", "fixedColor": "red"}),
            ],
            min_=0,
        ),
        12,
        8,
    )
    return d


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dashboards")
    for name, build in [
        ("overview", overview),
        ("versions", versions),
        ("regressions", regressions),
        ("diagnostics", diagnostics),
        ("exporter-health", health),
    ]:
        path = os.path.join(root, f"{name}.json")
        with open(path, "w") as fh:
            json.dump(build().to_json(), fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        print(path)


if __name__ == "__main__":
    main()
