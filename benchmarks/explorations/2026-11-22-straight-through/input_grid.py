"""A float MLP (the bench's float baseline) trained and tested on moons' inputs snapped to 3-bit grids."""
import numpy as np, warnings
warnings.filterwarnings("ignore")
from sklearn.neural_network import MLPClassifier
from benchmarks.run import _datasets, _split
X,y,t=_datasets()["moons"]; Xtr,Xte,ytr,yte=_split(X,y,t)
print("feature ranges", Xtr.min(0).round(2), Xtr.max(0).round(2))
for step, offset, lo, hi in ((0.5,0,-4,3),(0.5,0.25,-4,3),(0.55,0,-4,3),(0.6,0,-4,3),(0.45,0,-4,3),(0.5,0,-3,3)):
    def snap(X): return (np.clip(np.round((X-offset)/step),lo,hi))*step+offset
    accs=[(MLPClassifier((32,),max_iter=50,random_state=s,learning_rate_init=0.005,batch_size=16,alpha=0.0).fit(snap(Xtr),ytr).predict(snap(Xte))==yte).mean() for s in range(3)]
    print(step, offset, (lo,hi), np.round(accs,3), round(np.mean(accs),3))
