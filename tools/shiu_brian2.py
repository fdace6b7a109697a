"""The whole-brain LIF model of Shiu et al. (philshiu/Drosophila_brain_model, model.py) in Brian2,
built the way that code builds it. One definition serves the Brian2 comparison test
(tests/tools/brian2_shiu.py) and the speed reference of make bench (bench/brian2_standalone.py)."""
from brian2 import NeuronGroup, Synapses, mV, ms

PARAMS = {"v_0": -52 * mV, "v_rst": -52 * mV, "v_th": -45 * mV, "t_mbr": 20 * ms, "tau": 5 * ms,
          "t_rfc": 2.2 * ms, "t_dly": 1.8 * ms, "w_syn": 0.275 * mV, "f_poi": 250}

EQUATIONS = """
dv/dt = (v_0 - v + g) / t_mbr : volt (unless refractory)
dg/dt = -g / tau               : volt (unless refractory)
rfc                            : second
"""


def make_network(n, pre, post, signed_count):
    """Neurons at rest and their connections: weight = w_syn x signed synapse count, delay t_dly."""
    neu = NeuronGroup(n, EQUATIONS, method="linear", threshold="v > v_th", reset="v = v_rst; g = 0 * mV",
                      refractory="rfc", namespace=PARAMS)
    neu.v = PARAMS["v_0"]
    neu.g = 0 * mV
    neu.rfc = PARAMS["t_rfc"]
    syn = Synapses(neu, neu, "w : volt", on_pre="g += w", delay=PARAMS["t_dly"])
    syn.connect(i=pre, j=post)
    syn.w = signed_count * PARAMS["w_syn"]
    return neu, syn
