"""Key size and complexity of the default network (10 epochs) at several p_error. Usage: p_error_keys.py <dataset>."""
import sys, json, numpy as np, warnings
warnings.filterwarnings("ignore")
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier
X,y,t=_datasets()[sys.argv[1]]; Xtr,Xte,ytr,yte=_split(X,y,t)
m=NeuralNetClassifier(max_epochs=10, random_state=0).fit(Xtr,ytr)
for e in (40, 32, 30, 25, 20):
    m.compile(Xtr, p_error=2.0**-e)
    st=m.fhe_circuit.statistics
    print(sys.argv[1], "p_error 2^-%d"%e, "keys MB", round(st.evaluation_key_bytes/1e6,1), "server", round(st.server_key_bytes/1e6), "complexity %.3g"%st.complexity, flush=True)
