"""Pure parts of the reports: medians from histograms, rates, the table 三 check and layout,
grids with spans, the bulletin's chat message."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.bulletin import bulletin_message
from reports.errors import ScopeError, TableCheckError
from reports.grid import Cell, Grid, positions
from reports.layout import table3_grid, table4_grid
from reports.model import Bulletin, BulletinRow, OverdueItem, Rate, TimelinessRow
from reports.scope import month_window, parse_month, year_window
from reports.stats import Tally, median
from reports.table3 import assemble_table3, enforce_check, layout_for, result_rows
from reports.table4 import build_table4

UTC = dt.UTC


@given(st.lists(st.integers(min_value=-60, max_value=40), min_size=1, max_size=200))
def test_histogram_median_equals_the_median_of_the_values(values: list[int]) -> None:
    assert median(Counter(values)) == pytest.approx(statistics.median(values))


def test_median_of_nothing_is_none() -> None:
    assert median(Counter()) is None


def test_rate_states_its_denominator_and_has_no_value_without_one() -> None:
    rate = Rate.of(14, 14, "分母：本年办结的申请")
    assert (rate.value, rate.percent()) == (1.0, "100%")
    assert Rate.of(2, 3, "x").percent() == "66.7%"
    empty = Rate.of(0, 0, "分母：已到期的事项")
    assert empty.value is None
    assert empty.percent() == "—"


def test_tally_rate_counts_overdue_open_tasks_as_not_on_time() -> None:
    tally = Tally()
    tally.add("on_time", 3, 4)
    tally.add("extended_on_time", 0, 1)
    tally.add("late", -2, 1)
    tally.add("open_overdue", None, 2)
    tally.add("open_not_due", None, 5)
    row = tally.row({})
    assert row.due == 13
    assert (row.on_time_rate.numerator, row.on_time_rate.denominator) == (5, 8)
    assert row.worst_margin == -2
    assert row.median_margin == 3


def test_years_up_to_2020_use_the_2019_trial_layout() -> None:
    assert [layout_for(year) for year in (2017, 2019, 2020, 2021, 2026)] == [
        "2019",
        "2019",
        "2019",
        "2021",
        "2021",
    ]
    keys_2021 = [key for key, _, _ in result_rows("2021")]
    keys_2019 = [key for key, _, _ in result_rows("2019")]
    assert keys_2021[-4:] == ["other.no_correction", "other.fee_unpaid", "other.other", "total"]
    assert keys_2019[-2:] == ["other", "total"]
    assert len([key for key in keys_2021 if key.startswith("refused.")]) == 8


def test_a_failing_column_check_names_the_column() -> None:
    counts = {
        "new": Counter({"natural_person": 3, "total": 3}),
        "disclosed": Counter({"natural_person": 1, "total": 1}),
        "total": Counter({"natural_person": 1, "total": 1}),
        "carried_out": Counter({"natural_person": 1, "total": 1}),
    }
    table = assemble_table3(counts, "2021")
    failing = [check.label for check in table.checks if not check.ok]
    assert failing == ["自然人", "总计"]
    with pytest.raises(TableCheckError, match="「自然人」列") as caught:
        enforce_check(table, who="某局")
    assert "3+0=3 ≠ 1+1=2" in str(caught.value)


def test_table3_grid_has_the_official_header_block_and_spans() -> None:
    table = assemble_table3({}, "2021")
    grid = table3_grid(table)
    placed, width = positions(grid)
    assert width == 10
    first = [item for item in placed if item.row == 0]
    assert first[0].cell.text.startswith("（本列数据的勾稽关系为")
    assert (first[0].cell.colspan, first[0].cell.rowspan) == (3, 3)
    assert (first[1].column, first[1].cell.colspan) == (3, 7)
    part = next(item for item in placed if item.cell.text == "三、本年度办理结果")
    assert part.cell.rowspan == len([key for key, _, _ in result_rows("2021")])
    refused = next(item for item in placed if item.cell.text == "（三）不予公开")
    assert refused.cell.rowspan == 8
    last = placed[-1]
    assert last.row == len(grid.rows) - 1
    assert last.column == 9


def test_table4_grid_has_fifteen_columns() -> None:
    placed, width = positions(table4_grid(build_table4({})))
    assert width == 15
    assert sum(1 for item in placed if item.row == 3) == 15


def test_positions_skip_cells_taken_by_row_spans() -> None:
    grid = Grid("g", "t", [[Cell("a", rowspan=2), Cell("b")], [Cell("c")]])
    placed, width = positions(grid)
    assert [(item.row, item.column, item.cell.text) for item in placed] == [
        (0, 0, "a"),
        (0, 1, "b"),
        (1, 1, "c"),
    ]
    assert width == 2


def test_windows_are_local_days_with_utc_bounds() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    window = year_window(2025, tz)
    assert window.start_utc == dt.datetime(2024, 12, 31, 16, tzinfo=UTC)
    assert window.end_utc == dt.datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert month_window(2024, 2, tz).last == dt.date(2024, 2, 29)
    assert month_window(2025, 12, tz).last == dt.date(2025, 12, 31)
    assert parse_month("2026-11") == (2026, 11)
    with pytest.raises(ScopeError):
        parse_month("2026-13")
    with pytest.raises(ScopeError):
        parse_month("26-1")


def _bulletin(overdue: int) -> Bulletin:
    rate = Rate.of(3, 4, "分母")
    row = TimelinessRow(due=4, on_time=3, open_overdue=1, on_time_rate=rate)
    return Bulletin(
        year=2026,
        month=10,
        as_of=dt.datetime(2026, 11, 2, 2, tzinfo=UTC),
        title="某局2026年10月政务公开月度通报",
        government=False,
        total=row,
        ranking=[
            BulletinRow(
                rank=1,
                agency="a",
                section="trade",
                section_name="外贸科",
                due=4,
                on_time=3,
                extended_on_time=0,
                late=0,
                open_overdue=1,
                open_not_due=0,
                on_time_rate=rate,
            )
        ],
        overdue=[
            OverdueItem(
                task_id=number,
                agency="a",
                section_name="外贸科",
                obligation="monthly-info-report",
                title=f"月度信息报送 第{number}项",
                due_date=dt.date(2026, 10, 10),
                days_overdue=23,
            )
            for number in range(overdue)
        ],
        empty=False,
        sentences=["2026年10月到期事项4项。"],
    )


def test_bulletin_message_lists_ranking_and_overdue_and_is_clipped() -> None:
    text = bulletin_message(_bulletin(2))
    assert text.splitlines()[0] == "【某局2026年10月政务公开月度通报】"
    assert "1. 外贸科 75%（3/4），逾期未办结1项" in text
    assert "- 外贸科：月度信息报送 第1项（2026-10-10到期，已逾期23日）" in text
    long = bulletin_message(_bulletin(400), limit=1000)
    assert len(long) <= 1000
    assert long.endswith("（完整通报见附件）")
