import math

import pytest

from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, event, squeeze_up, squeeze_up_with_candles
from tripwire.flows.analysis.errors import InvalidTrigger
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT, build_messages, build_user_prompt, format_number


def test_user_prompt_is_a_header_the_bracket_and_one_line_of_present_features():
    prompt = build_user_prompt(
        event(
            "squeeze_up",
            "long",
            {
                "cvd_slope_1m": 612_345.6,
                "funding_bps": -0.31234,
                "near_vpvr_node": False,
                "book_imbalance": 0.25,
                "smart_money_bias": None,
            },
        )
    )
    assert prompt.splitlines() == [
        "rule=squeeze_up coin=BTC side=long",
        "bracket size_frac=0.02 sl_atr=1 tp_atr=1.5",
        # catalog order (book, trades, bars, context …), absent features left out, bools as 0/1
        "book_imbalance=0.25 cvd_slope_1m=612346 near_vpvr_node=0 funding_bps=-0.3123",
    ]


def test_same_trigger_gives_the_same_bytes_whatever_the_feature_order():
    features = dict(reversed(list(SQUEEZE_UP_STRONG.items())))
    a = build_user_prompt(squeeze_up())
    b = build_user_prompt(event("squeeze_up", "long", features, trigger_id="another-id"))
    assert a == b


def test_prompt_is_compact():
    prompt = build_user_prompt(squeeze_up())
    assert len(prompt) < 400
    assert "e+" not in prompt and "e-" not in prompt  # no exponents
    assert "trigger_id" not in prompt and "t-1" not in prompt  # no per-call noise


@pytest.mark.parametrize(
    "value, text",
    [
        (52_000.4, "52000"),
        (-0.000012345, "-0.00001234"),
        (1.5, "1.5"),
        (3.0, "3"),
        (0.0, "0"),
        (-1e-15, "0"),
        (True, "1"),
        (False, "0"),
        (42_123.5, "42124"),
    ],
)
def test_numbers_are_rounded_to_four_significant_digits_without_exponents(value, text):
    assert format_number(value) == text


def test_non_finite_and_null_features_are_left_out():
    prompt = build_user_prompt(
        event("squeeze_up", "long", {"cvd_slope_1m": math.nan, "funding_bps": None, "atr_bps": 5.0})
    )
    assert prompt.splitlines()[-1] == "atr_bps=5"


def test_system_prompt_is_one_constant_sent_first_every_time():
    first = build_messages(squeeze_up("a"))
    second = build_messages(event("reversion_fade_up", "short", {"bb_position_1m": 1.2}))
    assert first[0] == second[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert first[0]["content"] is second[0]["content"]
    assert "JSON" in SYSTEM_PROMPT and "sl_atr" in SYSTEM_PROMPT


def test_malformed_trigger_is_refused_with_the_field_named():
    bad = squeeze_up()
    bad["side"] = "up"
    with pytest.raises(InvalidTrigger, match="side"):
        build_user_prompt(bad)
    bad = squeeze_up()
    bad["features"] = {"cvd_slope_1m": "a lot"}
    with pytest.raises(InvalidTrigger, match="cvd_slope_1m"):
        build_user_prompt(bad)


def test_prompt_carries_the_50_candles_oldest_first_and_then_the_feature_vector():
    trigger = squeeze_up_with_candles()
    lines = build_user_prompt(trigger).splitlines()
    assert lines[:3] == [
        "rule=squeeze_up coin=BTC side=long",
        "bracket size_frac=0.02 sl_atr=1 tp_atr=1.5",
        "candles_1m o h l c v",
    ]
    rows = lines[3:-1]
    assert len(rows) == 50
    first, last = trigger["candles"][0], trigger["candles"][-1]
    assert rows[0] == f"{format_number(first['o'], 6)} {format_number(first['h'], 6)} " + (
        f"{format_number(first['l'], 6)} {format_number(first['c'], 6)} {format_number(first['v'])}"
    )
    assert [float(x) for x in rows[-1].split()] == [last["o"], last["h"], last["l"], last["c"], last["v"]]
    # the feature vector is still the whole last line, as without candles
    assert lines[-1] == build_user_prompt(squeeze_up()).splitlines()[-1]
    assert lines[-1].startswith("mid=42124 ") and "cvd_slope_1m=612000" in lines[-1]


def test_candle_prices_keep_six_significant_digits():
    assert format_number(2345.67, 6) == "2345.67" and format_number(42124.56, 6) == "42124.6"
    assert format_number(2345.67) == "2346"  # features keep 4


def test_the_system_prompt_explains_the_candle_lines():
    assert "candles_1m o h l c v" in SYSTEM_PROMPT and "oldest first" in SYSTEM_PROMPT
