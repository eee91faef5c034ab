"""``train_flow`` is the same training job as ``skypatrol train``: it ships the int8 model too."""

import pytest

from models.card import ModelCard


@pytest.mark.slow
def test_train_flow_packages_the_int8_model(prefect_harness, tmp_path):
    from flows.train import train_flow

    card = train_flow(out=str(tmp_path / "t"), worlds=1, world_size_m=80, tiles=6, epochs=1,
                      imgsz=64, batch=4)
    c = ModelCard.load(card)
    assert c.default_runtime == "onnx-int8" and "onnx-int8" in c.weights
    assert c.training["dataset"]["synthetic"] is True
