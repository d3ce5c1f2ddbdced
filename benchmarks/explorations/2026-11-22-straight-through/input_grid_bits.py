"""Float MLPs on moons and digits with inputs snapped to 3- and 4-bit grids (step, bits), seeds 0-2."""
import numpy as np
from sklearn.neural_network import MLPClassifier
from benchmarks.run import _datasets, _split
import warnings; warnings.filterwarnings("ignore")
d=_datasets()
for name in ("moons","digits"):
  X,y,t=d[name]; Xtr,Xte,ytr,yte=_split(X,y,t)
  for bits,step in ((None,None),(3,0.5),(3,0.75),(3,1.0),(4,0.25),(4,0.5)):
    def snap(X):
        if bits is None: return X
        return np.clip(np.round(X/step),-(2**(bits-1)),2**(bits-1)-1)*step
    accs=[]
    for seed in range(3):
        w=max(32,X.shape[1])
        m=MLPClassifier((w,),max_iter=50,random_state=seed,learning_rate_init=0.005,batch_size=16,alpha=0.0).fit(snap(Xtr),ytr)
        accs.append((m.predict(snap(Xte))==yte).mean())
    print(name,bits,step,np.round(accs,3),round(np.mean(accs),3))
