"""The LayerNorm pass (edgefmr.ir.passes): TensorFlow's int8 LayerNorm chains become LAYER_NORM_CHAIN nodes, the
rewritten graph computes the original's bits for every input, and chains it must not touch stay as they are."""


import numpy as np
import pytest
from op_cases import layer_norm_chain_inputs, layer_norm_chain_unfused
from paths import FIXTURES

from edgefmr.errors import IRError
from edgefmr.ir import GraphBuilder, run, validate
from edgefmr.ir.graph import Graph
from edgefmr.ir.passes import fuse_layer_norm, optimize


@pytest.mark.parametrize("residual", [True, False])
def test_vit_fixture_all_test_images(residual):
    """The converter's ViT: its five LayerNorm chains (the last with gamma and beta) are fused, each with the
    residual ADD that makes its input (ADD_LAYER_NORM_CHAIN, 82 -> 45 nodes) or alone (LAYER_NORM_CHAIN, 82 -> 50);
    every tensor the rewritten graph keeps, the logits included, is bit-identical for all 32 test images; the input
    graph is left unchanged."""
    from edgefmr.ir.model_io import load_model

    g = load_model(FIXTURES / "vit_digits_int8.tflite")
    ops_before = [n.op for n in g.nodes]
    f = fuse_layer_norm(g, residual=residual)
    if residual:
        assert [n.op for n in optimize(g).nodes] == [n.op for n in f.nodes]
    assert [n.op for n in g.nodes] == ops_before
    validate(f)
    op = "ADD_LAYER_NORM_CHAIN" if residual else "LAYER_NORM_CHAIN"
    fused = [n for n in f.nodes if n.op == op]
    assert len(fused) == 5 and len(f.nodes) == (45 if residual else 50)
    assert [len(n.inputs) for n in fused] == ([3, 3, 3, 3, 5] if residual else [2, 2, 2, 2, 4])
    assert {"RSQRT", "SQUARED_DIFFERENCE", "SUB"}.isdisjoint(n.op for n in f.nodes)
    assert f.inputs == g.inputs and f.outputs == g.outputs
    x = np.load(FIXTURES / "digits_test_x.npy")
    assert x.shape[0] == 32
    for i in range(32):
        want = run(g, [x[i:i + 1]], keep_all=True)
        got = run(f, [x[i:i + 1]], keep_all=True)
        assert set(got) <= set(want)
        for name in got:  # every tensor the fused graph still has (residual sums, logits, ...)
            assert np.array_equal(got[name], want[name]), (i, name)


def _random_chain(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    while True:
        try:
            return layer_norm_chain_unfused(rng)
        except IRError:
            continue


@pytest.mark.parametrize("seed", range(12))
def test_random_chains_inside_graphs(seed):
    """A random chain between other ops (its input made by an ADD that is also read later, its output read by an
    ADD): the chain is fused, nothing else changes, results are bit-identical on random inputs."""
    chain = _random_chain(seed)
    rng = np.random.default_rng(seed + 1000)
    xt = chain.tensors[chain.inputs[0]]
    b = GraphBuilder()
    a = b.input("a", xt.shape, scale=xt.scale * 0.7, zero_point=3)
    k = b.const("k", rng.integers(-128, 128, xt.shape[-1:]).astype(np.int8), scale=xt.scale * 0.5, zero_point=-1)
    x = b.op("ADD", [a, k], scale=xt.scale, zero_point=xt.zero_point, name="x_in")
    g = b.g
    rename = {chain.inputs[0]: x}
    for name, t in chain.tensors.items():
        if name not in rename:
            rename[name] = b._name("c_" + name)
            t2 = type(t)(rename[name], t.shape, t.dtype, t.quant, t.data)
            g.tensors[rename[name]] = t2
    for n in chain.nodes:
        g.nodes.append(type(n)(n.op, [rename[i] if i else "" for i in n.inputs], [rename[o] for o in n.outputs],
                               dict(n.attrs), rename[n.outputs[0]]))
    y = rename[chain.outputs[0]]
    z = b.op("ADD", [y, x], scale=xt.scale * 2, zero_point=0, name="z")
    b.output(z)
    g = b.build()
    f = fuse_layer_norm(g, residual=False)
    assert [n.op for n in f.nodes] == ["ADD", "LAYER_NORM_CHAIN", "ADD"]
    validate(f)
    r = fuse_layer_norm(g)  # the ADD joins when its constant has the sum's size
    want_ops = ["ADD_LAYER_NORM_CHAIN", "ADD"] if xt.size == xt.shape[-1] else ["ADD", "LAYER_NORM_CHAIN", "ADD"]
    assert [n.op for n in r.nodes] == want_ops
    validate(r)
    make = layer_norm_chain_inputs(chain)
    for _ in range(6):
        feeds = [np.clip(make(rng)[0].astype(np.int16) + rng.integers(-3, 4, xt.shape), -128, 127).astype(np.int8)]
        want = run(g, feeds)["z"]
        assert np.array_equal(run(f, feeds)["z"], want) and np.array_equal(run(r, feeds)["z"], want)


@pytest.mark.parametrize("seed", range(12))
def test_residual_chains(seed):
    """A chain whose input is a residual ADD of two tensors (or a tensor and a constant of the sum's size, with or
    without a leading 1), the sum also a graph output: one ADD_LAYER_NORM_CHAIN, both outputs bit-identical."""
    rng = np.random.default_rng(seed + 50)
    while True:
        try:
            g = layer_norm_chain_unfused(rng, residual=True)
            break
        except IRError:
            continue
    f = fuse_layer_norm(g)
    assert [n.op for n in f.nodes] == ["ADD_LAYER_NORM_CHAIN"]
    assert f.nodes[0].outputs == g.outputs
    validate(f)
    make = layer_norm_chain_inputs(g)
    for _ in range(6):
        feeds = make(rng)
        want = run(g, feeds)
        assert all(np.array_equal(a, want[o]) for o, a in run(f, feeds).items())


def _with(chain: Graph, mutate) -> Graph:
    """A copy of `chain` changed by `mutate(graph)`."""
    g = Graph({k: type(t)(t.name, t.shape, t.dtype, t.quant, t.data) for k, t in chain.tensors.items()},
              [type(n)(n.op, list(n.inputs), list(n.outputs), dict(n.attrs), n.name) for n in chain.nodes],
              list(chain.inputs), list(chain.outputs), dict(chain.metadata))
    mutate(g)
    validate(g)
    return g


def _node(g: Graph, op: str, k: int = 0):
    return [n for n in g.nodes if n.op == op][k]


@pytest.mark.parametrize("case", ["intermediate_is_output", "rsqrt_read_twice", "sub_activation", "mean_first_axis",
                                  "eps_not_const"])
def test_chains_it_must_not_fuse(case):
    """Intermediates read elsewhere or returned, fused activations, a mean over another axis, a variable eps: the
    chain is left alone (same nodes, same results)."""
    rng = np.random.default_rng(11)
    chain = layer_norm_chain_unfused(rng, shape=(1, 4, 8), square_form="squared_difference", gamma=False,
                                     beta=False)

    def mutate(g: Graph) -> None:
        if case == "intermediate_is_output":
            g.outputs.append(_node(g, "RSQRT").outputs[0])
        elif case == "rsqrt_read_twice":
            r = _node(g, "RSQRT").outputs[0]
            g.tensors["r2"] = type(g.tensors[r])("r2", g.tensors[r].shape, "int8", g.tensors[r].quant)
            g.nodes.append(type(g.nodes[0])("MUL", [r, r], ["r2"], {}, "r2"))
            g.outputs.append("r2")
        elif case == "sub_activation":
            _node(g, "SUB").attrs["activation"] = "RELU"
        elif case == "mean_first_axis":
            for n in g.nodes:
                if n.op == "MEAN":
                    g.tensors[n.inputs[1]].data = np.array(1, np.int32)
            # re-infer the shapes downstream of the changed means
            from edgefmr.ops.registry import call

            for n in g.nodes:
                c = call(n, g)
                for o, s in zip(n.outputs, c.opdef.infer(c), strict=True):
                    g.tensors[o].shape = tuple(s)
        elif case == "eps_not_const":
            add = _node(g, "ADD")
            eps = add.inputs[1] if g.tensors[add.inputs[1]].is_const else add.inputs[0]
            g.tensors[eps].data = None
            g.inputs.append(eps)

    g = _with(chain, mutate)
    f = fuse_layer_norm(g)
    assert [n.op for n in f.nodes] == [n.op for n in g.nodes]
    feeds = [np.random.default_rng(0).integers(-128, 128, g.tensors[i].shape).astype(g.tensors[i].dtype)
             for i in g.inputs]
    if case == "eps_not_const":
        feeds[-1] = np.full(feeds[-1].shape, -127, np.int8)
    for o in g.outputs:
        try:
            want = run(g, feeds)[o]
        except Exception:  # e.g. RSQRT of a negative value: both graphs stop alike
            continue
        assert np.array_equal(run(f, feeds)[o], want)


def test_two_chains_sharing_an_input_and_the_mul_form():
    """Two chains reading the same tensor (both fused), one in the SUB + MUL(c, c) form."""
    rng = np.random.default_rng(21)
    c1 = layer_norm_chain_unfused(rng, shape=(3, 16), square_form="mul", gamma=True, beta=True)
    xt = c1.tensors[c1.inputs[0]]
    g = _with(c1, lambda g: None)
    # a second chain over the same input: copy c1's nodes with renamed intermediates
    names = {n2: n2 + "_b" for n in c1.nodes for n2 in n.outputs}
    for n in c1.nodes:
        for o in n.outputs:
            t = c1.tensors[o]
            g.tensors[names[o]] = type(t)(names[o], t.shape, t.dtype, t.quant, t.data)
        g.nodes.append(type(n)(n.op, [names.get(i, i) for i in n.inputs], [names[o] for o in n.outputs],
                               dict(n.attrs), names[n.outputs[0]]))
    g.outputs.append(names[c1.outputs[0]])
    validate(g)
    f = fuse_layer_norm(g)
    assert [n.op for n in f.nodes] == ["LAYER_NORM_CHAIN", "LAYER_NORM_CHAIN"]
    assert f.nodes[0].attrs["square_form"] == "mul"
    for _ in range(5):
        x = [rng.integers(-128, 128, xt.shape).astype(np.int8)]
        for o in g.outputs:
            assert np.array_equal(run(f, x)[o], run(g, x)[o])


def test_origin_maps_every_node_once():
    """optimize_origin names, per node of the rewritten ViT, the user's nodes it computes: each original node exactly
    once, a fused node the 8 (or 10 with gamma / beta) nodes of its ADD and chain."""
    from edgefmr.ir.model_io import load_model
    from edgefmr.ir.passes import optimize_origin

    g = load_model(FIXTURES / "vit_digits_int8.tflite")
    f, origin = optimize_origin(g)
    assert len(origin) == len(f.nodes)
    assert sorted(o for os_ in origin for o in os_) == list(range(len(g.nodes)))
    for n, os_ in zip(f.nodes, origin, strict=True):
        if n.op == "ADD_LAYER_NORM_CHAIN":
            assert [g.nodes[o].op for o in os_][:2] == ["ADD", "MEAN"] and len(os_) in (8, 10)
            assert n.outputs[-1] == g.nodes[os_[-1]].outputs[0]
        else:
            assert len(os_) == 1 and g.nodes[os_[0]].op == n.op
