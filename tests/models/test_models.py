"""Shape contract, gradients, size errors, determinism and pinned sizes of every registered model;
attention gate, presence head (loss, gate, ONNX), ImageNet initialisation and FLOP counting."""

import io
import math

import pytest
import torch
from torch.nn import functional as F

from nerveseg.errors import ConfigError
from nerveseg.losses import BCEDiceLoss, presence_loss
from nerveseg.models import MODELS, build_model
from nerveseg.models.blocks import AttentionGate, max_unpool
from nerveseg.models.outputs import split_output
from nerveseg.models.pretrained import VGG16_BN_CONVS, load_vgg16_bn_encoder
from nerveseg.models.profile import count_flops, count_parameters
from nerveseg.models.segnet import SegNet
from nerveseg.postprocess import PostprocessParams, postprocess_batch

SLIM = {"width": 0.125}
NAMES = sorted(MODELS)
# Every model, plain and with a presence head.
VARIANTS = [(name, head) for name in NAMES for head in (False, True)]
VARIANT_IDS = [f"{name}{'+presence' if head else ''}" for name, head in VARIANTS]

# Parameters at the default arguments (1 input channel, 1 logit), and at width 0.25.
PARAMETERS = {
    "segnet": (29_442_433, 1_844_833),
    "segnet_basic": (1_409_153, 88_865),
    "attention_segnet": (32_194_694, 2_017_958),
    "unet": (31_112_065, 1_948_129),
    "attention_unet": (31_739_185, 1_987_417),
}


@pytest.mark.parametrize(("name", "head"), VARIANTS, ids=VARIANT_IDS)
def test_output_shape_matches_input(name, head):
    model = build_model(name, presence_head=head, **SLIM).eval()
    with torch.no_grad():
        mask_logits, presence_logits = split_output(model(torch.randn(2, 1, 64, 96)))
    assert mask_logits.shape == (2, 1, 64, 96)
    if head:
        assert presence_logits.shape == (2,)
    else:
        assert presence_logits is None


@pytest.mark.parametrize(("name", "head"), VARIANTS, ids=VARIANT_IDS)
def test_gradients_are_finite_and_reach_every_parameter(name, head):
    model = build_model(name, presence_head=head, **SLIM)
    mask_logits, presence_logits = split_output(model(torch.randn(2, 1, 64, 64)))
    loss = mask_logits.square().mean()
    if head:
        loss = loss + presence_logits.square().mean()
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize(("name", "head"), VARIANTS, ids=VARIANT_IDS)
def test_indivisible_size_names_the_padded_size(name, head):
    model = build_model(name, presence_head=head, **SLIM)
    with pytest.raises(ValueError, match="96x128"):
        model(torch.randn(1, 1, 90, 120))


@pytest.mark.parametrize(("name", "head"), VARIANTS, ids=VARIANT_IDS)
def test_eval_mode_is_deterministic(name, head):
    model = build_model(name, presence_head=head, **SLIM).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        first, second = split_output(model(x)), split_output(model(x))
    assert torch.equal(first[0], second[0])
    if head:
        assert torch.equal(first[1], second[1])


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_are_pinned(name):
    with torch.device("meta"):  # sizes only: no memory, no initialisation work
        full, slim = build_model(name), build_model(name, width=0.25)
    assert (count_parameters(full), count_parameters(slim)) == PARAMETERS[name]
    # A slim real-time variant exists for every architecture.
    assert count_parameters(slim) < count_parameters(full) / 10


def test_full_segnet_parameter_count_is_the_published_one():
    # VGG16-BN encoder (13 convs) + mirrored decoder, 1 input channel, 1 logit: 29.44 M.
    assert sum(p.numel() for p in SegNet().parameters()) == 29_442_433


def test_segnet_has_13_encoder_convolutions_in_5_stages():
    model = SegNet()
    assert len(model.encoders) == 5
    convs = [m for m in model.encoders.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13


def test_width_multiplier_shrinks_the_model():
    assert sum(p.numel() for p in SegNet(width=0.25).parameters()) == 1_844_833


def test_segnet_basic_is_the_papers_layout():
    model = build_model("segnet_basic")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs[:-1]] == [(7, 7)] * 8
    assert {c.out_channels for c in convs[:-1]} == {64}
    assert convs[-1].kernel_size == (1, 1)  # the classifier
    # No ReLU in the decoder, as in the paper.
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.decoders.modules())
    assert model.size_divisor == 16


@pytest.mark.parametrize(
    ("name", "depth", "divisor"),
    [
        ("segnet", 3, 8),
        ("segnet_basic", 3, 8),
        ("attention_segnet", 4, 16),
        ("attention_unet", 3, 8),
    ],
)
def test_depth_sets_the_size_divisor(name, depth, divisor):
    model = build_model(name, depth=depth, **SLIM).eval()
    assert model.size_divisor == divisor
    with torch.no_grad():
        assert model(torch.randn(1, 1, 48, 80)).shape == (1, 1, 48, 80)


@pytest.mark.parametrize("name", NAMES)
def test_bottleneck_is_the_deepest_feature_map(name):
    # forward_with_bottleneck hands back exactly what model.bottleneck outputs.
    model = build_model(name, **SLIM).eval()
    seen = []
    hook = model.bottleneck.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        logits, features = model.forward_with_bottleneck(torch.randn(1, 1, 64, 64))
    hook.remove()
    assert logits.shape == (1, 1, 64, 64)
    assert torch.equal(features, seen[0])
    assert features.shape[1] == model.bottleneck_channels
    assert features.shape[-1] <= 64 // 8


@pytest.mark.parametrize("name", ["unet", "attention_unet"])
def test_monai_wrappers_compute_what_monai_computes(name):
    model = build_model(name, **SLIM).eval()
    x = torch.randn(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), model.net(x))


def test_scatter_unpool_equals_max_unpool2d():
    x = torch.randn(2, 3, 8, 12)
    pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    expected = F.max_unpool2d(pooled, indices, 2, 2, output_size=x.shape[-2:])
    assert torch.equal(max_unpool(pooled, indices, x.shape), expected)


def test_attention_gate_keeps_the_skip_shape_and_weights_in_0_1():
    gate = AttentionGate(skip_channels=8, gate_channels=16)
    skip, signal = torch.randn(2, 8, 12, 20), torch.randn(2, 16, 6, 10)
    alpha = gate.attention(skip, signal)
    assert gate(skip, signal).shape == skip.shape
    assert alpha.shape == (2, 1, 12, 20)
    assert ((alpha > 0) & (alpha < 1)).all()
    assert torch.allclose(gate(skip, signal), skip * alpha)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="segnet"):
        build_model("segnett")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("segnet", {"dropout": 0.1}, "dropout"),
        ("segnet", {"depth": 9}, "depth"),
        ("segnet_basic", {"width": 0}, "width"),
        ("unet", {"depth": 5}, "fixed depth of 4"),
        ("attention_unet", {"depth": 0}, "depth"),
        ("attention_segnet", {"output_prior": 1.5}, "prior"),
    ],
)
def test_bad_model_argument_is_a_config_error(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_model(name, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_untrained_model_predicts_the_priors(name):
    model = build_model(name, presence_head=True, **SLIM).eval()
    with torch.no_grad():
        mask_logits, presence_logits = split_output(model(torch.zeros(1, 1, 64, 64)))
    assert torch.sigmoid(mask_logits).mean().item() < 0.2  # starts near "no nerve", not at 0.5
    assert torch.sigmoid(presence_logits).item() == pytest.approx(0.41, abs=0.15)


# Presence loss and gate -------------------------------------------------------------------------


def test_presence_loss_hand_cases():
    target = torch.zeros(3, 1, 4, 4)
    target[1, 0, 0, 0] = 1  # one nerve pixel makes a frame "present"
    target[2] = 1
    # logit 0 -> p = 0.5 -> ln 2 whatever the truth
    assert presence_loss(torch.zeros(3), target).tolist() == pytest.approx([math.log(2)] * 3)
    # confident and right costs ~0; confident and wrong costs ~|logit|
    right = presence_loss(torch.tensor([-30.0, 30.0, 30.0]), target)
    assert right.tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    wrong = presence_loss(torch.tensor([5.0, -5.0, -5.0]), target)
    assert wrong.tolist() == pytest.approx([5.0067] * 3, abs=1e-4)


def test_presence_term_adds_to_the_mask_loss_only_with_a_head():
    target = torch.zeros(2, 1, 4, 4)
    target[0, :, :2, :2] = 1
    logits = torch.randn(2, 1, 4, 4)
    plain = BCEDiceLoss()(logits, target)
    assert BCEDiceLoss(presence_weight=0.5)(logits, target).item() == pytest.approx(plain.item())
    with_head = BCEDiceLoss(presence_weight=0.5)((logits, torch.zeros(2)), target)
    assert with_head.item() == pytest.approx(plain.item() + 0.5 * math.log(2), rel=1e-6)
    assert BCEDiceLoss()((logits, torch.zeros(2)), target).item() == pytest.approx(plain.item())


def test_gate_empties_masks_when_presence_is_low_and_keeps_them_when_high():
    probabilities, presence = torch.ones(3, 4, 4), torch.tensor([0.1, 0.5, 0.9])
    gated = postprocess_batch(probabilities, PostprocessParams(presence_threshold=0.5), presence)
    assert gated.flatten(1).any(1).tolist() == [False, True, True]
    assert postprocess_batch(probabilities, PostprocessParams(), presence).all()
    # A model without a head asks for no gate (PostprocessParams.for_model): nothing to gate.
    headless = PostprocessParams(presence_threshold=0.5).for_model(has_presence_head=False)
    assert postprocess_batch(probabilities, headless, None).all()


def test_inference_gates_by_the_model_files_presence_threshold():
    from nerveseg.checkpoint import ModelInfo
    from nerveseg.inference.predictor import masks_at_original_size

    gate = PostprocessParams(presence_threshold=0.5)
    info = ModelInfo("segnet", {}, (8, 8), 0.0, 1.0, postprocess=gate)
    probabilities = torch.ones(2, 8, 8)
    presence = torch.tensor([0.2, 0.8])
    masks = masks_at_original_size(probabilities, [(16, 16)] * 2, info.postprocess, presence)
    assert [bool(m.any()) for m in masks] == [False, True]


@pytest.mark.parametrize("name", NAMES)
def test_presence_model_exports_with_the_legacy_onnx_exporter(name):
    ort = pytest.importorskip("onnxruntime")
    model = build_model(name, presence_head=True, **SLIM).eval()
    x = torch.randn(1, 1, 64, 64)
    buffer = io.BytesIO()
    torch.onnx.export(
        model, (x,), buffer, dynamo=False, input_names=["image"],
        output_names=["mask_logits", "presence_logits"],
    )  # fmt: skip
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    mask_onnx, presence_onnx = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        mask_torch, presence_torch = model(x)
    assert torch.allclose(torch.from_numpy(mask_onnx), mask_torch, atol=1e-4)
    assert torch.allclose(torch.from_numpy(presence_onnx), presence_torch, atol=1e-4)


# ImageNet initialisation ------------------------------------------------------------------------

VGG_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)


def fake_vgg16_bn_state() -> dict[str, torch.Tensor]:
    """Random tensors in torchvision's vgg16_bn layout, RGB input, with classifier keys."""
    generator = torch.Generator().manual_seed(0)
    state, previous = {}, 3
    for index, out in zip(VGG16_BN_CONVS, VGG_CHANNELS, strict=True):
        state[f"features.{index}.weight"] = torch.randn(out, previous, 3, 3, generator=generator)
        state[f"features.{index}.bias"] = torch.randn(out, generator=generator)
        for name in ("weight", "bias", "running_mean"):
            state[f"features.{index + 1}.{name}"] = torch.randn(out, generator=generator)
        state[f"features.{index + 1}.running_var"] = torch.rand(out, generator=generator) + 0.5
        state[f"features.{index + 1}.num_batches_tracked"] = torch.tensor(0)
        previous = out
    # Ignored; the real ones are 4096x25088, 4096x4096 and 1000x4096.
    state["classifier.0.weight"], state["classifier.0.bias"] = torch.randn(4, 8), torch.randn(4)
    state["classifier.6.weight"], state["classifier.6.bias"] = torch.randn(2, 4), torch.randn(2)
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg16_bn.pth"
    torch.save(fake_vgg16_bn_state(), path)
    return path


@pytest.mark.parametrize(("name", "head"), [("segnet", False), ("attention_segnet", True)])
def test_vgg16_bn_weights_initialise_the_encoder(vgg_file, name, head):
    model = build_model(name, presence_head=head)
    load_vgg16_bn_encoder(model, vgg_file)
    state = torch.load(vgg_file, weights_only=True)
    segnet = model.segmenter if head else model
    units = [unit for stage in segnet.encoders for unit in stage]
    assert len(units) == 13
    for unit, index in zip(units, VGG16_BN_CONVS, strict=True):
        expected = state[f"features.{index}.weight"]
        if index == 0:  # RGB -> gray: the sum, so a gray image replicated to RGB responds the same
            expected = expected.sum(1, keepdim=True)
        assert torch.equal(unit[0].weight, expected)
        assert torch.equal(unit[0].bias, state[f"features.{index}.bias"])
        for key in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(getattr(unit[1], key), state[f"features.{index + 1}.{key}"])


def test_vgg16_bn_errors_are_config_errors(vgg_file, tmp_path):
    with pytest.raises(ConfigError, match="width=1"):
        load_vgg16_bn_encoder(build_model("segnet", width=0.25), vgg_file)
    with pytest.raises(ConfigError, match="segnet and attention_segnet"):
        load_vgg16_bn_encoder(build_model("unet", **SLIM), vgg_file)
    with pytest.raises(ConfigError, match="not found"):
        load_vgg16_bn_encoder(build_model("segnet", depth=1), tmp_path / "missing.pth")
    broken = fake_vgg16_bn_state()
    del broken["features.8.running_var"]
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ConfigError, match=r"features\.8\.running_var"):
        load_vgg16_bn_encoder(build_model("segnet", depth=3), tmp_path / "broken.pth")


# Cost -----------------------------------------------------------------------------------------


def test_count_flops_counts_a_multiply_add_as_two():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False).train()
    assert count_flops(conv, (4, 5), in_channels=2) == 2 * (2 * 3 * 9) * (4 * 5)
    assert conv.training  # mode restored
