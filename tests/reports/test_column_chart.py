"""The column chart (counts over time): bars as tall as their share of the highest."""

from app.reports.charts import Column, column_chart
from tests.reports.test_charts import SVG, assert_allowed_by_the_policy, parse


def bar_heights(markup: str) -> list[float]:
    svg = parse(markup)
    # The first rectangle is the baseline.
    return [float(rect.attrib["height"]) for rect in list(svg.iter(f"{SVG}rect"))[1:]]


def test_columns_are_as_tall_as_their_share_of_the_highest() -> None:
    markup = column_chart(
        "chart-activity",
        "Actions reported per week",
        [Column("2 Mar", 4), Column("9 Mar", 0), Column("16 Mar", 1)],
        unit=("action", "actions"),
    )
    assert_allowed_by_the_policy(markup)
    tallest, nothing, quarter = bar_heights(markup)
    assert nothing == 0
    assert quarter == tallest / 4
    texts = [text.text for text in parse(markup).iter(f"{SVG}text")]
    assert texts == ["4", "2 Mar", "0", "9 Mar", "1", "16 Mar"]
    description = parse(markup).find(f"{SVG}desc")
    assert description is not None
    assert description.text == "2 Mar: 4 actions; 9 Mar: 0 actions; 16 Mar: 1 action."


def test_no_counts_draw_no_bars_and_crowded_names_are_spaced_out() -> None:
    columns = [Column(f"{day} Sep", 0) for day in range(1, 27)]
    markup = column_chart("c", "Nothing yet", columns, unit=("action", "actions"))
    assert set(bar_heights(markup)) == {0.0}
    names = [t.text for t in parse(markup).iter(f"{SVG}text") if t.text and "Sep" in t.text]
    # Every n-th name, from the first, so that none runs into the next.
    labels = [column.label for column in columns]
    step = labels.index(names[1])
    assert step > 1
    assert names == labels[::step]


def test_names_are_escaped() -> None:
    markup = column_chart("c", "<b>", [Column("<script>", 1)], unit=("x", "xs"))
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup


def test_names_under_the_outer_bars_stay_inside_the_drawing() -> None:
    # Many narrow columns: the first and last names, centred under their bars, would
    # start before 0 or end past the width.
    columns = [Column(f"{day} September", day) for day in range(1, 31)]
    markup = column_chart("c", "Crowded", columns, unit=("click", "clicks"))
    svg = parse(markup)
    width = float(svg.attrib["viewBox"].split()[2])
    for text in svg.iter(f"{SVG}text"):
        if text.text and "September" in text.text:
            half = len(text.text) * 13 * 0.3
            assert half <= float(text.attrib["x"]) <= width - half, text.text
