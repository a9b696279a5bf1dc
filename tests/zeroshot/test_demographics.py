"""D3G's prompt strategies as data: groups, wording, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairnotes import zeroshot

CLASSES = ["doctor", "fire fighter"]


def test_strategies_and_group_counts():
    assert zeroshot.demographic_strategies() == ("none", "profession", "race7", "race4", "gender", "age")
    counts = {s: len(zeroshot.demographic_groups(s)) for s in zeroshot.demographic_strategies()}
    assert counts == {"none": 0, "profession": 10, "race7": 7, "race4": 4, "gender": 2, "age": 9}
    assert zeroshot.demographic_groups("race4") == ("white", "black", "asian", "indian")


@pytest.mark.parametrize("strategy", ["profession", "race7", "race4", "gender", "age"])
@pytest.mark.parametrize("template", [None, "a photo of a {group} {class}."])
def test_one_prompt_per_group_naming_class_and_group(strategy, template):
    groups = zeroshot.demographic_groups(strategy)
    prompts = zeroshot.demographic_prompts(CLASSES, strategy, template=template)
    assert list(prompts) == CLASSES
    for c in CLASSES:
        assert len(prompts[c]) == len(groups) == len(set(prompts[c]))
        for p, g in zip(prompts[c], groups):
            assert c in p and g in p


def test_d3g_wording():
    assert zeroshot.demographic_prompts(["doctor"], "race7")["doctor"][3] == "A photo of an east asian doctor"
    assert zeroshot.demographic_prompts(["doctor"], "age")["doctor"][-1] == "A photo of a 70+ year old doctor"
    assert zeroshot.demographic_prompts(["white"], "profession")["white"][0] == "A photo of a white chef"


def test_none_is_one_plain_prompt_per_class():
    assert zeroshot.demographic_prompts(CLASSES, "none") == {"doctor": ["A photo of a doctor"],
                                                             "fire fighter": ["A photo of a fire fighter"]}
    assert zeroshot.demographic_prompts(["doctor"], "none", template="a {group} {class}.") == {"doctor": ["a doctor."]}


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(KeyError, match="valid: none, profession, race7, race4, gender, age"):
        zeroshot.demographic_prompts(CLASSES, "religion")
    with pytest.raises(KeyError, match="unknown demographic prompt strategy"):
        zeroshot.demographic_groups("race5")


def test_json_names_its_source():
    raw = json.loads((Path(zeroshot.__file__).with_name("demographics.json")).read_text("utf-8"))
    assert raw["source"].strip() and "jjhickmon/D3G" in raw["source"]
    assert raw["images_per_prompt"] == 5 and raw["text_weight_sweep"]["n"] == 101
