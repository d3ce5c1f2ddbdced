"""Key size under concrete's parameter-selection strategies. Usage: parameter_strategy_keys.py <dataset>."""
import sys, json, time, functools, numpy as np, warnings
warnings.filterwarnings("ignore")
from concrete import fhe
import veil.fhe._circuit as circ
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier
name = sys.argv[1]
X,y,t=_datasets()[name]; Xtr,Xte,ytr,yte=_split(X,y,t)
m=NeuralNetClassifier(max_epochs=10, random_state=0).fit(Xtr,ytr)
Original = fhe.Configuration
for label, extra in [("multi-precision", {}), ("mono", {"parameter_selection_strategy": fhe.ParameterSelectionStrategy.MONO}),
                     ("multi-norm2", {"multi_parameter_strategy": fhe.MultiParameterStrategy.PRECISION_AND_NORM2})]:
    circ.fhe.Configuration = functools.partial(Original, **extra)
    m.compile(Xtr)
    st=m.fhe_circuit.statistics
    print(name, label, "keys MB", round(st.evaluation_key_bytes/1e6,1), "server", round(st.server_key_bytes/1e6), st.table_lookups_by_bit_width, "complexity %.3g"%st.complexity, flush=True)
