"""What keeps eight lines in a Raspberry Pi's memory: pypinyin never loads in the service, the
lines share one onnxruntime session, and an unusable phrase is still refused by name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge.config import KeywordsConfig
from edge.keywords.model import ModelInfo, load_model
from edge.keywords.spotter import KeywordSpotter

PHRASES = {"greeting": ["您好", "很高兴为您服务"], "forbidden": ["不知道"], "thanks": ["谢谢"]}

# A fresh interpreter, as `callqa run` is: builds two lines' spotters and reports what it loaded.
_SERVICE = """
import json, sys
from edge.config import KeywordsConfig
from edge.keywords.spotter import KeywordSpotter
phrases = json.loads(sys.argv[1])
spotters = [KeywordSpotter.from_config(KeywordsConfig(runtime="onnx"), phrases, {}, f"line{i}", sample_rate=8000)
            for i in range(2)]
print(json.dumps({"pypinyin": "pypinyin" in sys.modules, "same_model": spotters[0].model is spotters[1].model,
                  "keywords": [[k.phrase, list(k.label_ids)] for k in spotters[0].keywords]}))
"""


def test_the_service_spells_its_phrases_without_loading_pypinyin_and_as_pypinyin_would():
    done = subprocess.run([sys.executable, "-c", _SERVICE, json.dumps(PHRASES, ensure_ascii=False)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["pypinyin"] is False
    assert child["same_model"] is True  # eight lines, one session
    import pypinyin  # noqa: F401  (here, in the test process: spelled in place)

    in_place = KeywordSpotter.from_config(KeywordsConfig(runtime="onnx"), PHRASES, {}, sample_rate=8000)
    assert child["keywords"] == [[k.phrase, list(k.label_ids)] for k in in_place.keywords]


def test_a_phrase_the_model_cannot_spell_is_refused_by_name_when_spelled_in_a_child():
    done = subprocess.run([sys.executable, "-c", (
        "from edge.config import ConfigError, KeywordsConfig\n"
        "from edge.keywords.spotter import KeywordSpotter\n"
        "try:\n"
        "    KeywordSpotter.from_config(KeywordsConfig(), {'closing': ['再见', 'bye']}, {}, sample_rate=8000)\n"
        "except ConfigError as e:\n"
        "    print(e)\n")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rubric category 'closing'" in done.stdout and "'bye'" in done.stdout


def test_onnx_lines_share_a_session_and_tflite_lines_have_their_own():
    info = ModelInfo.load(None)
    assert load_model(info, "onnx") is load_model(info, "onnx")
    assert load_model(info, "onnx", "float") is not load_model(info, "onnx", "int8")
    assert load_model(info, "tflite") is not load_model(info, "tflite")  # an Interpreter serves one thread


def test_auto_runtime_is_litert_where_it_is_installed():
    pytest.importorskip("ai_edge_litert")
    assert KeywordsConfig().runtime == "tflite" and KeywordsConfig(runtime="onnx").runtime == "onnx"
    with pytest.raises(ValueError):
        KeywordsConfig(runtime="cuda")
