"""The hand-written SVG charts: what they draw, and nothing the page's policy refuses."""

import re
import xml.etree.ElementTree as ElementTree

from app.reports.charts import (
    BAR_AREA,
    WIDTH,
    FunnelStep,
    Series,
    funnel_chart,
    grouped_bar_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def bar_widths(svg: ElementTree.Element, colour_of_track: str = "#e8ecf1") -> list[float]:
    return [
        float(rect.attrib["width"])
        for rect in svg.iter(f"{SVG}rect")
        # Leave out the track behind each bar and the legend's squares.
        if rect.attrib["fill"] != colour_of_track and float(rect.attrib["height"]) != 14
    ]


def assert_allowed_by_the_policy(markup: str) -> None:
    """No inline style, no script, no event handler, nothing loaded from elsewhere."""
    assert "<style" not in markup
    assert "style=" not in markup
    assert "<script" not in markup
    assert not re.search(r"\son[a-z]+=", markup)
    assert "href" not in markup
    assert "http://" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_funnel_draws_each_step_as_a_share_of_the_first() -> None:
    markup = funnel_chart(
        "chart-funnel",
        "From delivered to acted",
        [FunnelStep("Delivered", 200), FunnelStep("Clicked", 50), FunnelStep("Acted", 10)],
    )
    assert_allowed_by_the_policy(markup)
    svg = parse(markup)
    assert svg.attrib["role"] == "img"
    assert svg.attrib["viewBox"].startswith(f"0 0 {WIDTH} ")
    assert bar_widths(svg) == [BAR_AREA, BAR_AREA * 0.25, BAR_AREA * 0.05]
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert texts == ["Delivered", "200", "Clicked", "50 (25%)", "Acted", "10 (5%)"]
    description = svg.find(f"{SVG}desc")
    assert description is not None
    assert description.text == "Delivered: 200; Clicked: 50 (25%); Acted: 10 (5%)."
    assert svg.attrib["aria-labelledby"] == "chart-funnel-title chart-funnel-desc"


def test_nothing_delivered_draws_empty_bars_without_dividing_by_zero() -> None:
    svg = parse(funnel_chart("f", "Funnel", [FunnelStep("Delivered", 0), FunnelStep("Acted", 0)]))
    assert bar_widths(svg) == [0.0, 0.0]


def test_grouped_bars_per_category_with_a_legend() -> None:
    markup = grouped_bar_chart(
        "chart-regions",
        "Per region",
        ["Africa", "Middle East and North Africa"],
        [Series("Clicked", [0.5, None]), Series("Acted", [0.25, 1.5])],
    )
    assert_allowed_by_the_policy(markup)
    svg = parse(markup)
    widths = bar_widths(svg)
    full = WIDTH - 100  # the bars take the width left of the values
    # A rate that cannot be computed draws nothing; one above 100% stops at the end.
    assert widths == [full * 0.5, full * 0.25, 0.0, full * 1.0]
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert texts[:2] == ["Clicked", "Acted"]  # the legend
    assert "Middle East and North Africa" in texts
    assert texts[-2:] == ["—", "150%"]
    description = svg.find(f"{SVG}desc")
    assert description is not None
    assert description.text == (
        "Africa: clicked 50%, acted 25%; Middle East and North Africa: clicked —, acted 150%."
    )


def test_labels_are_escaped() -> None:
    markup = grouped_bar_chart(
        "c", 'Title "quoted" <b>', ["<script>alert(1)</script>"], [Series("A&B", [0.1])]
    )
    assert "<script>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    svg = parse(markup)
    assert [text.text for text in svg.iter(f"{SVG}text")][:2] == [
        "A&B",
        "<script>alert(1)</script>",
    ]
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == 'Title "quoted" <b>'
