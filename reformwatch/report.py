"""The round bulletin (Chinese Markdown + self-contained HTML with SVG charts) and per-unit feedback files.

Every figure comes from the published warehouse's marts by query; individual examinees never appear
in the bulletin. Per-unit feedback files hold only that unit's own examinees (from the work database).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import duckdb

from . import charts
from .config import DBT_PROJECT_DIR, connect_quietly, connect_work_db
from .csvload import sql_str
from .fingerprint import code_fingerprint
from .safe_text import markdown as md_text
from .safe_text import spreadsheet, unmarkdown

log = logging.getLogger(__name__)


def _check_labels() -> dict[str, str]:
    """Each check's Chinese name, from the checks seed (the one list of checks)."""
    with (DBT_PROJECT_DIR / "seeds" / "checks.csv").open(encoding="utf-8", newline="") as f:
        return {r["check_name"]: r["label_zh"] for r in csv.DictReader(f)}


CHECK_ZH = _check_labels()
KIND_ZH = {"progress": "工作进展报表", "exam": "考试成绩表", "expectations": "数据校验"}
LEVELS = ("厅级", "处级", "科级")


def pct(x: float | None) -> str:
    """One decimal, as the bulletin prints rates (90.0%), but 100% for all (优秀率100%, 已达100%)."""
    return "—" if x is None else "100%" if x == 1 else f"{x * 100:.1f}%"


def num(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


LIST_MAX = 50  # names listed in a sentence before "等 N 家" (national rounds have 100,000 units)
TABLE_HEAD = 25  # a round with more units shows its first and last TABLE_HEAD in tables and charts


def names(items: list[str], total: int | None = None) -> str:
    """Items joined into a sentence; past LIST_MAX "等 N 项". `total`: how many there are, if more were not fetched."""
    total = len(items) if total is None else total
    if not items:
        return "无"
    if total > LIST_MAX:
        return "、".join(items[:LIST_MAX]) + f" 等 {total} 项(完整名单见数据仓库)"
    return "、".join(items)


def left_out(total: int, n: int = TABLE_HEAD) -> int:
    """How many of `total` items a table or chart leaves out between its first and last n (0: shows all)."""
    return 0 if total <= 2 * n + 10 else total - 2 * n


def head_and_tail(items: list, n: int = TABLE_HEAD) -> tuple[list, int]:
    """The first and last n items and how many were left out between them (_Q.head_and_tail does it in SQL)."""
    if not left_out(len(items), n):
        return items, 0
    return items[:n] + items[-n:], left_out(len(items), n)


@dataclass
class Bulletin:
    round_id: str
    markdown: str
    html: str
    charts: dict[str, str]


# Columns whose values come from submissions or registries: escaped for Markdown (safe_text.markdown)
# as they are read, so the bulletin shows them as text, never as a link, an image or HTML.
SUBMITTED_TEXT = frozenset({"unit_code", "unit_name", "absence_reason", "file_path", "source_file", "detail"})


class _Q:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows as dicts; the SUBMITTED_TEXT columns' values escaped for Markdown."""
        cur = self.con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        text = [i for i, c in enumerate(cols) if c in SUBMITTED_TEXT]
        rows = cur.fetchall()
        if text:
            rows = [tuple(md_text(v) if i in text and isinstance(v, str) else v for i, v in enumerate(r)) for r in rows]
        return [dict(zip(cols, r)) for r in rows]

    def one(self, sql: str, params: list | None = None) -> dict:
        got = self.rows(sql, params)
        return got[0] if got else {}

    def count(self, sql: str, params: list | None = None) -> int:
        return self.con.execute(f"select count(*) from ({sql})", params or []).fetchone()[0]

    def listed(self, sql: str, order: str, params: list | None = None) -> tuple[list[dict], int]:
        """The first LIST_MAX rows of `sql` in `order` (what names() shows) and how many rows it has."""
        return self.rows(f"{sql} order by {order} limit {LIST_MAX}", params), self.count(sql, params)

    def head_and_tail(self, sql: str, order: str, params: list | None = None) -> tuple[list[dict], int]:
        """head_and_tail() of the rows of `sql` in `order`, fetching only the rows shown."""
        total = self.count(sql, params)
        if not left_out(total):
            return self.rows(f"{sql} order by {order}", params), 0
        head = self.rows(f"{sql} order by {order} limit {TABLE_HEAD}", params)
        tail = self.rows(f"{sql} order by {order} limit {TABLE_HEAD} offset {total - TABLE_HEAD}", params)
        return head + tail, left_out(total)


def _round_title(q: _Q, round_id: str, work_db: Path | None) -> tuple[str, str | None]:
    """The round's title and the previous round (by deadline) from the work database, if readable."""
    if work_db and work_db.is_file():
        try:
            wc = connect_quietly(work_db, read_only=True)
            try:
                rounds = wc.execute(
                    "select round_id, title from staging.stg_landing__rounds order by deadline, round_id"
                ).fetchall()
            finally:
                wc.close()
            ids = [r[0] for r in rounds]
            title = dict(rounds).get(round_id) or round_id
            i = ids.index(round_id) if round_id in ids else -1
            return title, ids[i - 1] if i > 0 else None
        except duckdb.Error:
            log.debug("work database not readable for titles", exc_info=True)
    return round_id, None


def build_bulletin(warehouse: Path, round_id: str, work_db: Path | None = None) -> Bulletin:
    con = connect_quietly(warehouse, read_only=True)
    try:
        return _build(_Q(con), round_id, work_db)
    finally:
        con.close()


def _build(q: _Q, round_id: str, work_db: Path | None) -> Bulletin:
    er = q.one("select * from marts.exam_round where round_id = ?", [round_id])
    rr = q.one("select * from marts.reform_round where round_id = ?", [round_id])
    if not er or not rr:
        raise LookupError(f"round {round_id} is not in the warehouse (see marts.reform_round)")
    title, previous = _round_title(q, round_id, work_db)
    # A national round has 100,000 units: DuckDB filters, orders and limits; Python gets the rows shown.
    units = (  # $1 = round
        "select unit_code, unit_name, rank_in_round, examinees, absent, avg_score, pass_rate, excellent_rate, "
        "full_score_count, fail_count, discipline_incidents from marts.exam_unit_round where round_id = $1"
    )
    by_rank = "rank_in_round, unit_code"
    levels = {r["rank_level"]: r for r in q.rows("select * from marts.exam_level_round where round_id = ?", [round_id])}
    reform = (
        "select unit_code, unit_name, one_visit_items, materials_reduction_rate, online_rate, negative_cases, "
        "secret_inspection_groups, source_file from marts.reform_unit_round where round_id = $1"
    )
    bins = q.rows("select * from marts.exam_score_bins where round_id = ? order by bin", [round_id])
    absences, n_absences = q.listed(
        """select a.unit_code, coalesce(u.unit_name, a.unit_code) as unit_name, a.absence_reason, a.absent
           from marts.exam_absence_reasons a
           left join (select distinct unit_code, unit_name from marts.reform_unit_round
                      union select distinct unit_code, unit_name from marts.exam_unit_round) u using (unit_code)
           where a.round_id = $1""",
        "a.unit_code, a.absence_reason",
        [round_id],
    )
    marks = q.one("""select max(score_to) as full_marks from marts.exam_score_bins where round_id = ?""", [round_id])
    unit_names = {  # of the units this round's issues name
        r["unit_code"]: r["unit_name"]
        for r in q.rows(
            """select unit_code, unit_name from (select unit_code, unit_name from marts.reform_unit_round
                                                 union select unit_code, unit_name from marts.exam_unit_round) u
               semi join (select unit_code from dq.issues where round_id = $1) i using (unit_code)""",
            [round_id],
        )
    }
    issues = q.rows("select * from dq.issues where round_id = ? order by unit_code, source, check_name", [round_id])
    prev_units = bool(previous) and q.count("select 1 from marts.exam_unit_round where round_id = ?", [previous]) > 0

    md: list[str] = []
    md.append(f"# 督导情况通报:{md_text(title)}")
    md.append("")
    md.append(
        f"> 轮次 `{round_id}`。本通报由 reformwatch 根据数据仓库中的汇总数据自动生成,"
        "百分比和平均数保留一位小数;个人成绩不在通报中出现,另向各单位分别反馈。"
    )
    md.append("")

    # --- exam -----------------------------------------------------------------------------------------
    md.append("## 一、“基本理论+”考试情况")
    md.append("")
    if not er["units"]:
        md.append(
            f"截至本通报生成时，本轮尚无有效的考试成绩（督导单位 {rr['units_in_scope']} 家，已收到有效成绩单 0 家），"
            "考试情况待成绩报送后通报；已收到但未通过校验的成绩单见第三部分。"
        )
        md.append("")
    else:
        md.append("### (一)总体情况")
        md.append("")
        absent_text = (
            "缺考 "
            + str(er["absent"])
            + " 人("
            + ";".join(f"{a['unit_name']} {a['absent']} 人:{a['absence_reason']}" for a in absences)
            + (f";等 {n_absences} 项" if n_absences > LIST_MAX else "")
            + ")"
            if er["absent"]
            else "无人缺考"
        )
        participation = (
            f"参考人数占督导单位机关干部总数({er['cadre_headcount']} 人)的 {pct(er['participation_rate'])}"
            if er["participation_rate"] is not None or not er["cadre_headcount"]
            else f"参考人数超过督导范围登记的机关干部总数（{er['cadre_headcount']} 人），参考率待登记数据核实后计算"
        )
        level_counts = "、".join(f"{lv} {levels[lv]['examinees']} 人" for lv in LEVELS if lv in levels)
        md.append(
            f"本轮共有 {er['units']} 家单位的 {er['examinees']} 名干部参加考试({level_counts}),{absent_text};"
            + participation
            + "。"
            f"平均成绩 {num(er['avg_score'])} 分,及格率 {pct(er['pass_rate'])},"
            f"优秀率(90 分及以上){pct(er['excellent_rate'])},满分率 {pct(er['full_score_rate'])}。"
        )
        md.append("")
        md.append("[[chart:histogram]]")
        md.append("")

        md.append("### (二)单位情况")
        md.append("")
        top = q.rows(f"{units} order by {by_rank} limit 3", [round_id])
        bottom = q.rows(f"{units} order by rank_in_round desc, unit_code desc limit 3", [round_id])

        def units_where(what: str, condition: str, column: str, measure: str, first: str = "") -> str:
            """The sentence on the units meeting `condition` (by rank, after the ORDER BY prefix `first`):
            how many, and each name with its `column` value and `measure`."""
            got, n = q.listed(f"{units} and {condition}", first + by_rank, [round_id])
            listed = names([f"{u['unit_name']}({u[column]} {measure})" for u in got], n)
            return f"{what}的单位共 {n} 家:{listed}。"

        def unit_line(u: dict) -> str:
            return f"{u['unit_name']}(平均 {num(u['avg_score'])} 分,优秀率 {pct(u['excellent_rate'])})"

        md.append(f"成绩排在前三位的是:{'、'.join(unit_line(u) for u in top)}。")
        md.append("")
        md.append(f"成绩排在后三位的是:{'、'.join(unit_line(u) for u in bottom)}。")
        md.append("")
        md.append(
            units_where(
                "满分人数超过 10 人", "full_score_count > 10", "full_score_count", "人", "full_score_count desc, "
            )
        )
        md.append("")
        md.append(units_where("有干部考试不及格", "fail_count > 0", "fail_count", "人"))
        md.append("")
        md.append(
            f"各单位平均成绩最高 {num(er['unit_avg_max'])} 分、最低 {num(er['unit_avg_min'])} 分,"
            f"相差 {num(er['unit_avg_spread'])} 分。"
        )
        md.append("")
        md.append("[[chart:unit_avg]]")
        md.append("")
        if prev_units:
            md.append(f"与上一轮(`{previous}`)相比各单位平均成绩的变化见下图。")
            md.append("")
            md.append("[[chart:change]]")
            md.append("")
        md.append("| 名次 | 单位 | 参考人数 | 缺考 | 平均分 | 及格率 | 优秀率 | 满分人数 | 不及格人数 |")
        md.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        shown, left_out = q.head_and_tail(units, by_rank, [round_id])
        for i, u in enumerate(shown):
            if left_out and i == TABLE_HEAD:
                md.append(f"| … | 其余 {left_out} 家单位见 `marts.exam_unit_round` | | | | | | | |")
            md.append(
                f"| {u['rank_in_round']} | {u['unit_name']} | {u['examinees']} | {u['absent']} | {num(u['avg_score'])} "
                f"| {pct(u['pass_rate'])} | {pct(u['excellent_rate'])} | {u['full_score_count']} | {u['fail_count']} |"
            )
        md.append("")

        md.append("### (三)职级情况")
        md.append("")
        present = [lv for lv in LEVELS if lv in levels]
        md.append(
            f"{'、'.join(present)}干部考试平均成绩分别为 "
            + "、".join(f"{num(levels[lv]['avg_score'])} 分" for lv in present)
            + ";及格率分别为 "
            + "、".join(pct(levels[lv]["pass_rate"]) for lv in present)
            + ";优秀率分别为 "
            + "、".join(pct(levels[lv]["excellent_rate"]) for lv in present)
            + "。"
        )
        if "处级" in levels and "科级" in levels and levels["处级"]["pass_rate"] < levels["科级"]["pass_rate"]:
            md.append("")
            md.append("处级干部的及格率低于科级干部。")
        md.append("")

        md.append("### (四)考风考纪")
        md.append("")
        md.append(units_where("记录有违反考试纪律情况", "discipline_incidents > 0", "discipline_incidents", "人次"))
        md.append("")

    # --- reform ---------------------------------------------------------------------------------------
    md.append("## 二、深化改革工作进展")
    md.append("")
    md.append(f"本轮督导单位 {rr['units_in_scope']} 家,报送有效工作进展报表 {rr['units_reported']} 家。")
    md.append("")

    if not rr["units_reported"]:
        md.append(
            "截至本通报生成时，本轮尚无有效的工作进展报表，工作进展情况待报表报送后通报；"
            "已收到但未通过校验的报表见第三部分。"
        )
        md.append("")
    else:

        def unit_names_where(condition: str, order: str = "unit_code") -> str:
            got, n = q.listed(f"{reform} and {condition}", order, [round_id])
            return names([r["unit_name"] for r in got], n)

        def best(col: str) -> str:
            return unit_names_where(f"{col} = (select max({col}) from marts.reform_unit_round where round_id = $1)")

        md.append(
            f"“最多跑一次”:实现“最多跑一次”的事项最多的是{best('one_visit_items')}"
            f"({rr['one_visit_items_max'] if rr['one_visit_items_max'] is not None else '—'} 项),"
            f"{rr['units_reported']} 家单位平均 {num(rr['one_visit_items_avg'])} 项。"
        )
        md.append("")
        md.append(
            f"申请材料精简:材料减少比例最高的是{best('materials_reduction_rate')}"
            f"({pct(rr['materials_reduction_rate_max'])}),平均减少 {pct(rr['materials_reduction_rate_avg'])}。"
        )
        md.append("")
        full = unit_names_where("online_rate = 1")
        below = unit_names_where("online_rate < 0.5", "online_rate, unit_code")
        md.append(
            f"网上可办:政务服务事项网上可办率达到 100% 的单位共 {rr['units_online_full']} 家({full}),"
            f"平均为 {pct(rr['online_rate_avg'])};低于 50% 的单位共 {rr['units_online_below_half']} 家:{below}。"
        )
        md.append("")
        md.append("[[chart:online]]")
        md.append("")
        md.append(f"审批时限压缩:平均压缩 {pct(rr['approval_time_compression_rate_avg'])}。")
        md.append("")
        zero_cases = unit_names_where("negative_cases = 0")
        md.append(
            f"专项整治与通报曝光:专项清理整治共发现问题线索 {rr['problem_clues_total']} 个;"
            f"平均通报曝光反面典型案例 {num(rr['negative_cases_avg'])} 个,"
            f"{rr['units_zero_negative_cases']} 家单位零通报({zero_cases})。"
        )
        md.append("")
        no_secret = unit_names_where("secret_inspection_groups = 0")
        md.append(f"明查暗访:未设置暗访督查组的单位共 {rr['units_without_secret_inspection']} 家:{no_secret}。")
        md.append("")

    # --- data quality ---------------------------------------------------------------------------------
    md.append("## 三、数据报送质量")
    md.append("")
    late = [i for i in issues if i["check_name"] == "late_submission"]
    missing = [i for i in issues if i["check_name"] in ("missing_submission", "missing_exam_results")]
    rejected = [
        i
        for i in issues
        if i["severity"] == "error" and i["check_name"] not in ("missing_submission", "missing_exam_results")
    ]
    other = [i for i in issues if i["severity"] == "warning" and i["check_name"] != "late_submission"]

    def who(i: dict) -> str:
        """The unit's name; for a file whose name breaks the rule, the unit code its name begins with."""
        if i["unit_code"] is None and i["file_path"]:
            return "文件名中的单位代码 " + i["file_path"].rsplit("/", 1)[-1].split("__")[0].rsplit(".", 1)[0]
        return unit_names.get(i["unit_code"], i["unit_code"] or "未知单位")

    md.append(f"逾期报送(共 {len(late)} 项):" + names([f"{who(i)}({KIND_ZH[i['source']]})" for i in late]) + "。")
    md.append("")
    md.append(
        f"未报送(共 {len(missing)} 项):" + names([f"{who(i)}({CHECK_ZH[i['check_name']]})" for i in missing]) + "。"
    )
    md.append("")
    in_force = {  # (kind, unit) -> the version in force and its file, of the units this round's issues name
        (r["source"], r["unit_code"]): r
        for r in q.rows(
            """select 'progress' as source, unit_code, version, source_file from marts.reform_unit_round
               where round_id = $1 union all
               select 'exam', unit_code, version, source_file from marts.exam_unit_round where round_id = $1""",
            [round_id],
        )
    }
    md.append(f"被退回的报送(共 {len(rejected)} 项):")
    md.append("")
    if not rejected:
        md.append("- 无")
    grouped: dict[tuple, int] = {}
    for i in rejected:
        key = (who(i), i["unit_code"], i["source"], i["check_name"], i["file_path"], i["file_version"])
        grouped[key] = grouped.get(key, 0) + 1
    for (name, code, source, check, path, version), n in list(grouped.items())[: 2 * LIST_MAX]:
        fixed = ""
        current = in_force.get((source, code))
        if current and path and version is not None and current["source_file"] != path:
            in_force_name = current["source_file"].rsplit("/", 1)[-1]
            if current["version"] > version:
                fixed = f";已由 {in_force_name} 更正"
            else:  # a newer version was rejected: the one before stays in force
                fixed = f";原报送的 {in_force_name} 继续有效"
        rows_text = f"({n} 行)" if n > 1 else ""
        md.append(
            f"- {name}:{KIND_ZH.get(source, source)} {path or '—'} {CHECK_ZH.get(check, check)}{rows_text}{fixed}"
        )
    if len(grouped) > 2 * LIST_MAX:
        md.append(f"- 其余 {len(grouped) - 2 * LIST_MAX} 项见 `dq.issues`")
    md.append("")
    if other:
        counts: dict[tuple, int] = {}
        for i in other:
            counts[(who(i), i["check_name"])] = counts.get((who(i), i["check_name"]), 0) + 1
        md.append(
            "其他提示:"
            + names([f"{n}{CHECK_ZH.get(c, c)}" + (f" {k} 项" if k > 1 else "") for (n, c), k in counts.items()])
            + "。"
        )
        md.append("")

    # --- charts ---------------------------------------------------------------------------------------
    pass_mark, excellent_mark = 0.6, 0.9
    full_marks = marks.get("full_marks") or 100
    svgs: dict[str, str] = {}  # the charts of the parts that have data
    if er["units"]:
        svgs["histogram"] = charts.histogram(
            "成绩分布",
            [(b["score_from"], b["score_to"], b["examinees"]) for b in bins],
            [(full_marks * pass_mark, "及格线"), (full_marks * excellent_mark, "优秀线")],
        )
        svgs["unit_avg"] = charts.hbar(
            "各单位平均成绩(按名次)",
            [(unmarkdown(u["unit_name"]), u["avg_score"]) for u in shown],
            max_value=full_marks,
            lines=[(er["avg_score"], f"总平均 {num(er['avg_score'])}")] if er["avg_score"] is not None else [],
        )
    if rr["units_reported"]:
        svgs["online"] = charts.hbar(
            "各单位政务服务事项网上可办率",
            [
                (unmarkdown(r["unit_name"]), r["online_rate"] or 0.0)
                for r in q.head_and_tail(reform, "coalesce(online_rate, 0) desc, unit_code", [round_id])[0]
            ],
            max_value=1.0,
            fmt=lambda v: f"{v * 100:.1f}%",
            lines=[(0.5, "50%"), (1.0, "100%")],
        )
    if prev_units and er["units"]:
        changes = (  # $1 = round, $2 = previous round
            "select u.unit_name, u.avg_score - p.avg_score as delta, u.rank_in_round, u.unit_code "
            "from marts.exam_unit_round u join marts.exam_unit_round p on p.unit_code = u.unit_code "
            "and p.round_id = $2 where u.round_id = $1"
        )
        changed, more = q.head_and_tail(changes, by_rank, [round_id, previous])
        if more:  # a national round: only the biggest rises and falls
            changed = q.head_and_tail(changes, f"delta desc, {by_rank}", [round_id, previous])[0]
        deltas = [(unmarkdown(d["unit_name"]), d["delta"]) for d in changed]
        span = max((abs(d) for _, d in deltas), default=1) or 1
        svgs["change"] = charts.hbar(
            f"平均成绩较上一轮变化({previous} → {round_id})",
            deltas,
            min_value=-span,
            max_value=span,
            fmt=lambda v: f"{v:+.1f}",
        )
    markdown = "\n".join(zh_punctuation(line) for line in md)
    return Bulletin(round_id, markdown, _html(title, markdown, svgs), svgs)


_HALF_TO_FULL = {"(": "（", ")": "）", ";": "；", ",": "，", ":": "："}


def zh_punctuation(line: str) -> str:
    """A prose line of the bulletin with Chinese (full-width) punctuation and numbers set close to the
    Chinese text around them, as an official document has it: （）；，： for the half-width ones, 18家 for
    18 家. Kept as they are: table rows, chart and image lines, code spans
    (round ids, table names), and a comma or colon between two digits (18:00, 3,300)."""
    if line.startswith(("|", "![", "[[chart:")):
        return line

    def full(m: re.Match[str]) -> str:
        ch, text, at = m.group(0), m.string, m.start()
        between_digits = 0 < at < len(text) - 1 and text[at - 1].isdigit() and text[at + 1].isdigit()
        return ch if ch in ",:" and between_digits else _HALF_TO_FULL[ch]

    parts = line.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = re.sub(r"[(),:;]", full, parts[i])
        parts[i] = _SPACE_BEFORE_NUMBER.sub("", _SPACE_AFTER_NUMBER.sub("", parts[i]))
    return "`".join(parts)


# A space between a number and a Chinese character: the bulletin writes 18家单位, 87.4分, 优秀率100%
# (a file name or a date that starts with digits keeps its space).
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff08-\uff1b"
_SPACE_AFTER_NUMBER = re.compile(f"(?<=[0-9%]) +(?=[{_CJK}])")
_SPACE_BEFORE_NUMBER = re.compile(f"(?<=[{_CJK}]) +(?=[0-9][0-9.,]*%?(?:[{_CJK}]|$))")


def _chart_md(markdown: str, svgs: dict[str, str]) -> str:
    out = []
    for line in markdown.splitlines():
        if line.startswith("[[chart:") and line.endswith("]]"):
            key = line[8:-2]
            if key in svgs:
                out.append(f"![{key}](charts/{key}.svg)")
            continue
        out.append(line)
    return "\n".join(out)


def _html(title: str, markdown: str, svgs: dict[str, str]) -> str:
    import mistune

    render = mistune.create_markdown(escape=True, plugins=["table"])
    parts = []
    for block in markdown.split("\n\n"):
        block = block.strip()
        if block.startswith("[[chart:") and block.endswith("]]"):
            key = block[8:-2]
            if key in svgs:
                parts.append(f'<figure class="chart">{svgs[key]}</figure>')
            continue
        parts.append(render(block))
    style = (
        "body{font-family:'Noto Sans CJK SC','WenQuanYi Zen Hei','Microsoft YaHei',sans-serif;max-width:860px;"
        "margin:2em auto;padding:0 1em;line-height:1.7;color:#222}h1{font-size:1.6em;text-align:center}"
        "table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ccc;padding:2px 6px}"
        "th{background:#f0f3f7}td{text-align:right}td:nth-child(2){text-align:left}"
        "blockquote{color:#555;border-left:3px solid #ccc;margin-left:0;padding-left:1em}"
        "figure.chart{margin:1em 0;text-align:center}code{font-size:.9em}"
    )
    from html import escape

    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _read_digests(path: Path) -> dict[str, str]:
    """A `key<TAB>digest` state file (missing file: empty)."""
    if not path.is_file():
        return {}
    return dict(line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)


def _write_digests(path: Path, digests: dict[str, str]) -> None:
    _write_atomic(path, "".join(f"{k}\t{d}\n" for k, d in sorted(digests.items())))


def _write_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write through a temporary name, then replace: readers never see half a file (plain os calls,
    as it runs once per unit file)."""
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.tmp")
    _write_file(tmp, text)
    os.replace(tmp, path)


def _write_file(path: str, text: str | bytes) -> None:
    """Write `text` (UTF-8 if a str) with bare system calls: a third cheaper than open() for 100,000 small files."""
    data = memoryview(text if isinstance(text, bytes) else text.encode())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


# The unit feedback file's columns, in Chinese for the units' clerks: examinee_id, rank_level, status,
# score, passed, excellent, absence_reason, discipline_incident. UTF-8 with a byte order mark, so that
# Excel on Chinese Windows reads it.
FEEDBACK_HEADER = ("考生编号", "职级", "参考状态", "成绩", "是否及格", "是否优秀", "缺考原因", "是否违纪")
BOM = "\ufeff"


def _neutral(col: str) -> str:
    """SQL: a text cell a spreadsheet would run as a formula (starts with = + - @ tab or CR; CSV
    injection) gets a leading apostrophe. Only text columns go through it; numbers are written as numbers."""
    return f"case when regexp_matches({col}, '^[=+\\-@\\t\\r]') then '''' || {col} else {col} end"


def _csv_cell(expr: str) -> str:
    """SQL: a text cell as CSV (quoted when it holds a comma, quote or line break; NULL as empty)."""
    return (
        f"""coalesce(case when regexp_matches({expr}, '[,"\\r\\n]') """
        f"""then '"' || replace({expr}, '"', '""') || '"' else {expr} end, '')"""
    )


def _text_cell(col: str) -> str:
    """SQL: a free-text cell neutralised and quoted as CSV, with one regular expression for the common
    cell, which needs neither (at a national scale there are 10M cells per column)."""
    return (
        f"""coalesce(case when not regexp_matches({col}, '^[=+\\-@\\t\\r]|[,"\\r\\n]') then {col} """
        f"""else {_csv_cell(_neutral(col))} end, '')"""
    )


def prepared_folder(out_dir: Path) -> Path:
    """Where a units folder is written whole before it takes out_dir's name."""
    return out_dir.with_name(f".{out_dir.name}.new")


def write_unit_feedback(
    work_db: Path,
    round_id: str,
    out_dir: Path,
    *,
    prepare: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """reports/<round>/units/<unit>.csv: each unit's own examinees only (from the work database).

    DuckDB builds each unit's CSV text (quoting, neutralising formula cells). Only units whose digest
    (sheet in force, round marks, models and registries) changed since the last write are fetched and
    written (temporary name, then an atomic replace), and files of units that no longer have counted
    examinees are removed. A folder without unit files (a new round) is written whole under another
    name (prepared_folder), then renamed. Returns the number of files written.

    With `prepare`, only a folder without unit files is written, and it is not renamed: the pipeline
    does this while the checks run, before it may publish. The next call without `prepare` renames
    that folder into place if it is complete and its digests are still those of the work database,
    and counts its files as written.

    `progress(written, to write)` is called after each batch of files.
    """
    if not prepare:  # ahead of publishing, nothing is created under out_dir's name
        out_dir.mkdir(parents=True, exist_ok=True)
    state, summary = out_dir / ".digests", out_dir / ".digest"  # each unit's digest; all of them in one
    prepared = prepared_folder(out_dir)
    cells = [
        _text_cell("r.examinee_id"),
        "coalesce(r.rank_level, '')",  # one of the contract's three levels, or none
        "case r.status when 'attended' then '参考' else '缺考' end",
        "coalesce(r.score::varchar, '')",
        "case when r.status <> 'attended' then '' when r.score >= r.pass_mark then '是' else '否' end",
        "case when r.status <> 'attended' then '' when r.score >= r.excellent_mark then '是' else '否' end",
        _text_cell("r.absence_reason"),
        "case when r.discipline_note is not null then '是' else '否' end",
    ]
    con = connect_work_db(work_db, read_only=True)
    written = 0
    try:
        feedback = """(select r.file_unit_code as unit_code, r.row_number, r.examinee_id, r.rank_level, r.status,
                              r.score, r.absence_reason, r.discipline_note, rd.pass_mark, rd.excellent_mark
                       from intermediate.int_exam__rows r
                       join staging.stg_landing__rounds rd on rd.round_id = r.round_id
                       where r.round_id = $1 and r.is_counted)"""
        # A unit's file is a function of its sheet in force, the round's marks and the models and registries
        # (raw.build_state): a digest of those finds changed units without reading rows.
        unit_digests = """select f.unit_code, md5(concat_ws('|', rf.sha256, rd.pass_mark, rd.excellent_mark,
                                                     (select max(built_basis || registry_fingerprint)
                                                      from raw.build_state))) as d
                   from intermediate.int_exam__in_force f
                   join raw.files rf on rf.file_id = f.file_id
                   join staging.stg_landing__rounds rd on rd.round_id = f.round_id
                   where f.round_id = $1
                     and f.file_id in (select file_id from intermediate.int_exam__file_totals)"""
        total, units = con.execute(
            f"select md5(string_agg(unit_code || ':' || d, ',' order by unit_code)), count(*) from ({unit_digests})",
            [round_id],
        ).fetchone()
        everything = f"{total}\t{units}\n"
        names = os.listdir(out_dir) if out_dir.is_dir() else []
        unit_files = sum(map(str.endswith, names, repeat(".csv")))  # no Python loop over 100,000 names
        if summary.is_file() and summary.read_text() == everything and unit_files == units:
            return 0  # no unit's digest changed, and every unit's file is there
        on_disk = set(names)
        fresh = unit_files == 0  # a new round's folder: every unit is written
        if prepare and (not fresh or _is_prepared(prepared, everything)):
            return 0
        if fresh and not prepare and _is_prepared(prepared, everything):
            _replace_folder(out_dir, prepared)
            return units
        old = {} if fresh else _read_digests(state)
        digests = dict(con.execute(unit_digests, [round_id]).fetchall())
        changed = sorted(u for u, d in digests.items() if old.get(u) != d or f"{u}.csv" not in on_disk)
        con.execute("create temp table changed (unit_code varchar)")
        con.execute("insert into changed select unnest(?)", [changed])
        # list(... order by) and array_to_string cost less CPU than string_agg(... order by); the text comes
        # as UTF-8 bytes (encode), not decoded into a Python str and encoded again for the file
        query = f"""select unit_code, encode({sql_str(BOM + ",".join(FEEDBACK_HEADER))} || chr(10)
                       || array_to_string(list(concat_ws(',', {", ".join(cells)}) order by row_number), chr(10))
                       || chr(10))
                from {feedback} r semi join changed using (unit_code)
                where unit_code between $2 and $3 group by unit_code"""
        batches = feedback_batches(changed)
        if fresh:  # a new folder, complete before it takes the folder's name: no per-file renames
            target = prepared
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
        else:
            target = out_dir
        with contextlib.closing(_fetched_ahead(con, query, [[round_id, b[0], b[-1]] for b in batches])) as fetched:
            for texts in fetched:  # closed (its query finished) before con is, if a write fails
                _write_unit_files(str(target), texts, atomic=not fresh)
                written += len(texts)
                if progress:
                    progress(written, len(changed))
    finally:
        con.close()
    if fresh:
        _write_digests(target / state.name, digests)
        (target / summary.name).write_text(everything)  # last: it marks the folder complete
        if not prepare:
            _replace_folder(out_dir, target)
        return written
    for unit in old.keys() - digests.keys():  # no counted examinee any more: no file
        (out_dir / f"{unit}.csv").unlink(missing_ok=True)
    _write_digests(state, digests)
    _write_atomic(summary, everything)
    return written


def _is_prepared(prepared: Path, everything: str) -> bool:
    """Whether `prepared` is a complete units folder for these digests (its .digest is written last)."""
    try:
        return (prepared / ".digest").read_text() == everything
    except OSError:
        return False


def _replace_folder(out_dir: Path, complete: Path) -> None:
    """Give the complete folder out_dir's name; out_dir holds no unit file, at most old digests."""
    shutil.rmtree(out_dir, ignore_errors=True)
    complete.rename(out_dir)


FEEDBACK_BATCH_UNITS = 12_500  # units whose texts DuckDB builds in one query
FEEDBACK_EDGE_UNITS = 500  # the smallest batch: the first and the last ones grow from and shrink to it


def feedback_batches(units: list[str]) -> list[list[str]]:
    """`units` in batches of up to FEEDBACK_BATCH_UNITS, in order. Each batch's files are written while
    DuckDB builds the next batch's texts, but the first texts are built with no file to write beside
    them, and the last files written with no text to build: so the batches grow from
    FEEDBACK_EDGE_UNITS at the start (doubling) and the last one is split into halves, quarters, ...
    (at a national scale, the last 12,500 files took 1-3 s on one core while the other was idle)."""
    batches, start, size = [], 0, FEEDBACK_EDGE_UNITS
    while size < FEEDBACK_BATCH_UNITS and start < len(units):
        batches.append(units[start : start + size])
        start, size = start + size, size * 2
    batches += [units[i : i + FEEDBACK_BATCH_UNITS] for i in range(start, len(units), FEEDBACK_BATCH_UNITS)]
    last = batches.pop() if batches else []
    while len(last) >= 2 * FEEDBACK_EDGE_UNITS:
        half = len(last) // 2
        batches.append(last[:half])
        last = last[half:]
    return batches + ([last] if last else [])


def _fetched_ahead(con: duckdb.DuckDBPyConnection, query: str, params: list[list]) -> Iterator[list[tuple]]:
    """The rows of `query` for each parameter list, in order; DuckDB runs the next query in a background
    thread while the caller handles these rows (at a national scale: builds the next 12,500 units'
    texts while this thread writes the files, and smaller aggregates cost a third less CPU than one
    over every row). The caller must not use `con` meanwhile."""

    def fetch(p: list) -> list[tuple]:
        return con.execute(query, p).fetchall()

    with ThreadPoolExecutor(1, thread_name_prefix="feedback-query") as pool:
        ahead = pool.submit(fetch, params[0]) if params else None
        for following in params[1:]:
            rows = ahead.result()
            ahead = pool.submit(fetch, following)
            yield rows
        if ahead is not None:
            yield ahead.result()


def _write_unit_files(out_dir: str, batch: list[tuple[str, bytes]], *, atomic: bool) -> None:
    """Write `<unit>.csv` files: replacing one with _write_atomic; in a folder nobody reads yet, directly
    (a rename per file was a third of a national round's feedback time)."""
    for unit, text in batch:
        path = os.path.join(out_dir, f"{unit}.csv")
        if atomic:
            _write_atomic(path, text)
        else:
            _write_file(path, text)


def prepare_unit_feedback(
    work_db: Path, reports_dir: Path, progress: Callable[[str, int, int], None] | None = None
) -> list[str]:
    """Write the units folder of every round that has none yet (a new round) under its prepared name;
    the rounds written. Reads the work database only; refresh_reports renames the folders into place.
    `progress(round, written, to write)` is called after each batch of files."""
    con = connect_work_db(work_db, read_only=True)
    try:
        rounds = [r for (r,) in con.execute("select distinct round_id from intermediate.int_exam__in_force").fetchall()]
    finally:
        con.close()
    # a folder with its digest has had its files written: not a new round's, and not worth a digest query
    new = [r for r in sorted(rounds) if not (reports_dir / r / "units" / ".digest").is_file()]
    return [
        r
        for r in new
        if write_unit_feedback(
            work_db,
            r,
            reports_dir / r / "units",
            prepare=True,
            progress=(lambda done, total, r=r: progress(r, done, total)) if progress else None,
        )
    ]


def _prepared_folders(reports_dir: Path) -> list[Path]:
    """The units folders written ahead under reports_dir (one per round at most)."""
    return list(reports_dir.glob(f"*/{prepared_folder(Path('units')).name}"))


def discard_prepared_feedback(reports_dir: Path) -> None:
    """Remove units folders written ahead that were not renamed into place (nothing was published)."""
    for prepared in _prepared_folders(reports_dir):
        shutil.rmtree(prepared, ignore_errors=True)
        with contextlib.suppress(OSError):  # a new round's folder that holds nothing else
            prepared.parent.rmdir()


def write_report(warehouse: Path, round_id: str, reports_dir: Path, work_db: Path | None = None) -> Path:
    """Write reports/<round_id>/bulletin.md, bulletin.html, charts/*.svg and units/*.csv."""
    bulletin = build_bulletin(warehouse, round_id, work_db)
    out = reports_dir / round_id
    (out / "charts").mkdir(parents=True, exist_ok=True)
    for key, svg in bulletin.charts.items():
        _write_atomic(out / "charts" / f"{key}.svg", svg)
    for old in (out / "charts").glob("*.svg"):  # a chart of a part that has no data (any more)
        if old.stem not in bulletin.charts:
            old.unlink()
    _write_atomic(out / "bulletin.md", _chart_md(bulletin.markdown, bulletin.charts) + "\n")
    _write_atomic(out / "bulletin.html", bulletin.html)
    if work_db and work_db.is_file():
        write_unit_feedback(work_db, round_id, out / "units")
    write_unit_issues(warehouse, round_id, out / "issues")
    return out / "bulletin.html"


ISSUES_HEADER = ("严重程度", "问题", "检查项", "文件", "行号", "所报数值", "说明及处理办法", "原始说明（英文）")
SEVERITY_ZH = {"error": "错误（未采用）", "warning": "提示（已采用）"}


def write_unit_issues(warehouse: Path, round_id: str, out_dir: Path) -> int:
    """reports/<round>/issues/<unit>.csv: each unit's own issues of the round (dq.issues), with what to fix,
    for its clerk: UTF-8 with a byte order mark, Chinese headers, text that a spreadsheet would run as a
    formula written as text. Units without issues get no file (an old one is removed); an unchanged file
    is not written again. Issues that name no unit (a file whose name is not the contract's) are in the
    bulletin only. Returns the files written."""
    con = connect_quietly(warehouse, read_only=True)
    try:
        rows = con.execute(
            """select unit_code, severity, check_name, file_path, row_number, value, detail_zh, detail
               from dq.issues
               where round_id = ? and unit_code is not null
               order by unit_code, severity, file_path nulls first, row_number nulls first, check_name""",
            [round_id],
        ).fetchall()
    finally:
        con.close()
    by_unit: dict[str, list[tuple]] = {}
    for unit, *rest in rows:
        by_unit.setdefault(unit, []).append(rest)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.csv"):
        if old.stem not in by_unit:
            old.unlink()
    written = 0
    for unit, issues in by_unit.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ISSUES_HEADER)
        for severity, check, path, row, value, detail_zh, detail in issues:
            cells = (SEVERITY_ZH.get(severity, severity), CHECK_ZH.get(check, check), check, path or "", row or "")
            cells += (value or "", detail_zh, detail)
            w.writerow([spreadsheet(c) for c in cells])
        text, path = (BOM + buf.getvalue()).encode("utf-8"), out_dir / f"{unit}.csv"
        with contextlib.suppress(OSError):
            if path.read_bytes() == text:  # unchanged: a national round has thousands of these files
                continue
        _write_atomic(path, text)
        written += 1
    return written


def round_digests(warehouse: Path) -> dict[str, str]:
    """A digest of each round's published figures and issues, to know which bulletins changed.

    Rows are hashed and the hashes added up (order-independent, no sort of the round's rows).
    """
    con = connect_quietly(warehouse, read_only=True)
    try:
        hashed = {  # table -> what of its rows the bulletin depends on
            "marts.exam_unit_round": "r",
            "marts.reform_unit_round": "r",
            "marts.exam_round": "r",
            "marts.reform_round": "r",
            "dq.issues": "check_name, unit_code, file_path, severity",
        }
        per_table = " union all ".join(
            f"select round_id, count(*) as n, sum(hash('{t}', {what})::hugeint) as h from {t} r group by 1"
            for t, what in hashed.items()
        )
        rows = con.execute(
            f"""select round_id, sum(n) || '-' || sum(h) from ({per_table})
                where round_id in (select round_id from marts.reform_round) group by round_id"""
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def refresh_reports(warehouse: Path, reports_dir: Path, work_db: Path, *, force: bool = False) -> list[str]:
    """Regenerate the bulletins of rounds whose figures changed (or whose bulletin is missing, or that
    were written by other code), and their unit feedback files."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    state = reports_dir / ".digests"
    old = _read_digests(state)
    code = code_fingerprint()[:16]
    new = {r: f"{code}-{d}" for r, d in round_digests(warehouse).items()}
    changed = [
        r
        for r, d in sorted(new.items())
        if force or old.get(r) != d or not (reports_dir / r / "bulletin.html").is_file()
    ]
    for round_id in changed:
        write_report(warehouse, round_id, reports_dir, work_db)
    for prepared in _prepared_folders(reports_dir):  # written ahead, not yet used
        if prepared.parent.name in new and work_db.is_file():
            write_unit_feedback(work_db, prepared.parent.name, prepared.parent / "units")  # renames it if current
        shutil.rmtree(prepared, ignore_errors=True)  # still there: stale
    _write_digests(state, new)
    return changed
