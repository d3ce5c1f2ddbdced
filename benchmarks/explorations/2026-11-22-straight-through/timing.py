"""Encrypt / run / decrypt seconds of 12 rows, one at a time. Usage: timing.py <dataset> <configuration JSON> [p_error exponent]."""
import sys, time, functools, numpy as np, warnings, json
warnings.filterwarnings("ignore")
from concrete import fhe
import veil.fhe._circuit as circ
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier
name = sys.argv[1]; extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
X,y,t=_datasets()[name]; Xtr,Xte,ytr,yte=_split(X,y,t)
m=NeuralNetClassifier(max_epochs=5, random_state=0).fit(Xtr,ytr)
Original = fhe.Configuration
circ.fhe.Configuration = functools.partial(Original, **extra)
m.compile(Xtr, p_error=2.0**-float(sys.argv[3]) if len(sys.argv) > 3 else 2.0**-40)
c = m.fhe_circuit._circuit
print(name, extra, m.fhe_circuit.statistics.table_lookups_by_bit_width)
t=time.perf_counter(); c.keygen(); print("keygen", round(time.perf_counter()-t,2))
q = m.quantized_module_.quantize_input(Xte[:12].astype(np.float32))
rows=[]
for i in range(12):
    t0=time.perf_counter(); enc=c.encrypt(q[i:i+1]); t1=time.perf_counter(); res=c.run(enc); t2=time.perf_counter(); out=c.decrypt(res); t3=time.perf_counter()
    rows.append((t1-t0,t2-t1,t3-t2))
rows=np.array(rows)
print("first row enc/run/dec", np.round(rows[0],3))
print("median of rows 2-12 enc/run/dec", np.round(np.median(rows[1:],axis=0),3), "total", round(float(np.median(rows[1:].sum(1))),3))
print("all totals", np.round(rows.sum(1),3))
