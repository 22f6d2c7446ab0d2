import json
import logging

import pytest

from tests.flows.analysis.samples import FAMILY_CASES, SQUEEZE_UP_STRONG, event
from tripwire.flows.analysis.local_model import (
    HEURISTIC,
    FamilyModel,
    LocalModel,
    ModelFileError,
    rule_family,
    write_model_file,
)

HEURISTIC_MODEL = LocalModel.heuristic()


def assert_in_ranges(d):
    assert -1 <= d.sA <= 1 and 0 <= d.confA <= 1 and 0 <= d.prob_cont <= 1
    assert (d.sA > 0) == (d.prob_cont > 0.5)
    if d.go:
        assert 0 < d.tp_atr <= 20 and 0.7 <= d.sl_atr <= 20


@pytest.mark.parametrize("rule, side, strong, weak", FAMILY_CASES, ids=[c[0] for c in FAMILY_CASES])
def test_heuristic_goes_with_a_supportive_vector_and_not_with_a_contradicting_one(rule, side, strong, weak):
    good = HEURISTIC_MODEL.decide(event(rule, side, strong))
    bad = HEURISTIC_MODEL.decide(event(rule, side, weak))
    assert good.go and good.sA > 0.3 and good.confA > 0.3, good.reason
    assert not bad.go and bad.sA < -0.3, bad.reason
    assert bad.kind == "cancel" and good.kind == "adjust"
    assert good.source == bad.source == "local"
    assert_in_ranges(good)
    assert_in_ranges(bad)


def test_a_short_mirror_of_a_long_vector_scores_the_same():
    mirrored = {
        k: -v if k in ("cvd_slope_1m", "cvd_slope_5m", "book_imbalance") else v for k, v in SQUEEZE_UP_STRONG.items()
    }
    mirrored["funding_bps"] = 0.125 + (0.125 - SQUEEZE_UP_STRONG["funding_bps"])
    mirrored["liq_long_share_60s"], mirrored["liq_short_share_60s"] = (
        SQUEEZE_UP_STRONG["liq_short_share_60s"],
        SQUEEZE_UP_STRONG["liq_long_share_60s"],
    )
    del mirrored["mid"], mirrored["vwap_1m"]
    long_ = HEURISTIC_MODEL.score(event("squeeze_up", "long", SQUEEZE_UP_STRONG))
    short = HEURISTIC_MODEL.score(event("squeeze_down", "short", mirrored))
    assert short.sA == pytest.approx(long_.sA) and short.confA == pytest.approx(long_.confA)


def test_rule_families_come_from_the_rule_name_prefix():
    assert rule_family("squeeze_down") == rule_family("breakout_continuation_long") == "momentum"
    assert rule_family("reversion_fade_down") == "reversion"
    assert rule_family("liquidation_cascade_short") == "liquidation"
    assert rule_family("my_custom_rule") == "momentum"


def test_fewer_features_means_less_confidence_and_no_features_means_no_view():
    full = HEURISTIC_MODEL.score(event("squeeze_up", "long", SQUEEZE_UP_STRONG))
    partial = HEURISTIC_MODEL.score(event("squeeze_up", "long", {"cvd_slope_1m": 612_000.0}))
    empty = HEURISTIC_MODEL.decide(event("squeeze_up", "long", {}))
    assert 0 < partial.confA < full.confA
    assert (empty.sA, empty.confA, empty.prob_cont, empty.go) == (0.0, 0.0, 0.5, False)


def test_scoring_is_deterministic():
    e = event("reversion_fade_up", "short", FAMILY_CASES[2][2])
    a, b = HEURISTIC_MODEL.decide(e), LocalModel.heuristic().decide(e)
    assert a.model_dump(exclude={"created_ns"}) == b.model_dump(exclude={"created_ns"})


def test_targets_clear_fees_and_stops_stay_outside_noise():
    calm = HEURISTIC_MODEL.score(event("squeeze_up", "long", {**SQUEEZE_UP_STRONG, "atr_bps": 2.0}))
    assert calm.tp_atr >= 3.0  # 6 bps of fees / 2 bps ATR
    wild = HEURISTIC_MODEL.score(event("squeeze_up", "long", {**SQUEEZE_UP_STRONG, "realized_vol_bps_1m": 9.0}))
    assert wild.sl_atr == pytest.approx(1.5 * 9.0 / 6.0)
    planned = HEURISTIC_MODEL.score(
        event("squeeze_up", "long", SQUEEZE_UP_STRONG, actions=[("place_bracket", {"tp_atr": 3.0, "sl_atr": 2.0})])
    )
    assert planned.sl_atr == 2.0 and planned.tp_atr > 2.25


# -- retrained model files --------------------------------------------------------------------


def inverted_momentum() -> FamilyModel:
    h = HEURISTIC["momentum"]
    return FamilyModel(h.features, h.means, h.stds, tuple(-w for w in h.weights), bias=0.1)


def test_a_retrained_model_file_is_used_for_its_families(tmp_path, caplog):
    path = write_model_file(
        tmp_path / "local_model.json",
        {"momentum": inverted_momentum()},
        trained_at="2024-01-02T00:00:00Z",
        n_samples=1234,
    )
    with caplog.at_level(logging.INFO):
        model = LocalModel.load(path)
    assert "file:" in model.source and "heuristic for reversion, liquidation" in model.source
    squeeze = model.decide(event("squeeze_up", "long", SQUEEZE_UP_STRONG))
    assert not squeeze.go and "local file momentum" in squeeze.reason
    rule, side, strong, _ = FAMILY_CASES[2]  # reversion: not in the file
    reversion = model.score(event(rule, side, strong))
    assert reversion.model == "heuristic"
    assert reversion.sA == HEURISTIC_MODEL.score(event(rule, side, strong)).sA


def test_model_file_round_trips_what_the_retrain_flow_writes(tmp_path):
    path = write_model_file(tmp_path / "m.json", HEURISTIC)
    model = LocalModel.from_file(path)
    e = event("squeeze_up", "long", SQUEEZE_UP_STRONG)
    assert model.score(e).sA == HEURISTIC_MODEL.score(e).sA
    assert model.score(e).model == "file"


def test_no_model_file_means_the_heuristic_silently(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert LocalModel.load(tmp_path / "absent.json").source == "heuristic"
        assert LocalModel.load(None).source == "heuristic"
    assert not caplog.records


def good_file() -> dict:
    return {"format": "tripwire-local-model", "version": 1, "families": {"momentum": HEURISTIC["momentum"].to_dict()}}


def broken(change) -> dict:
    data = good_file()
    change(data)
    return data


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        (json.dumps([1, 2]), "JSON object"),
        (json.dumps(broken(lambda d: d.update(format="pickle"))), "format"),
        (json.dumps(broken(lambda d: d.update(version=9))), "version 9"),
        (json.dumps(broken(lambda d: d["families"].update(momentumm=d["families"]["momentum"]))), "momentumm"),
        (json.dumps(broken(lambda d: d["families"]["momentum"]["weights"].pop())), "weights has"),
        (json.dumps(broken(lambda d: d["families"]["momentum"]["stds"].__setitem__(0, 0.0))), "stds must be > 0"),
        (json.dumps(broken(lambda d: d["families"]["momentum"].pop("means"))), "means"),
        (json.dumps(broken(lambda d: d.update(families={}))), "families"),
        (json.dumps(broken(lambda d: d["families"]["momentum"].update(bias=float("nan")))), "finite"),
    ],
)
def test_a_corrupt_model_file_is_logged_and_the_heuristic_used(tmp_path, caplog, content, problem):
    path = tmp_path / "local_model.json"
    path.write_text(content)
    with pytest.raises(ModelFileError, match=problem):
        LocalModel.from_file(path)
    with caplog.at_level(logging.ERROR):
        model = LocalModel.load(path)
    assert model.source == "heuristic"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert str(path) in record.getMessage() and problem in record.getMessage()


def renamed_feature(old: str, new: str) -> dict:
    data = good_file()
    fam = data["families"]["momentum"]
    fam["features"] = [new if f == old else f for f in fam["features"]]
    fam["directional"] = [new if f == old else f for f in fam["directional"]]
    return data


def test_a_misspelt_feature_in_a_model_file_is_refused_with_a_suggestion(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(renamed_feature("cvd_slope_1m", "cvd_slop_1m")))
    with pytest.raises(ModelFileError, match="did you mean 'cvd_slope_1m'"):
        LocalModel.from_file(path)


def test_an_unknown_custom_feature_in_a_model_file_is_accepted_with_a_warning(tmp_path, caplog):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(renamed_feature("spread_bps", "whale_alerts_5m")))
    with caplog.at_level(logging.WARNING):
        model = LocalModel.load(path)
    assert model.source.startswith("file:")
    assert any("whale_alerts_5m" in r.getMessage() for r in caplog.records)
