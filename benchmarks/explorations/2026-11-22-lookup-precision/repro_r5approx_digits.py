import os, sys, warnings, traceback
os.environ["OMP_NUM_THREADS"]="1"; os.environ["RAYON_NUM_THREADS"]="1"
warnings.filterwarnings("ignore")
import numpy as np, torch; torch.set_num_threads(1)
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from veil.sklearn import NeuralNetClassifier
X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
sc = StandardScaler().fit(Xtr); Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
m = NeuralNetClassifier(max_epochs=3, random_state=0, module__n_hidden_neurons_multiplier=1, module__n_accum_bits=7,
                        rounding_threshold_bits={"n_bits": 5, "method": "approximate"}).fit(Xtr, ytr)
try:
    m.compile(Xtr); print("compiled", m.fhe_circuit.statistics)
    print(m.predict(Xte, fhe="simulate")[:5])
except Exception:
    traceback.print_exc()
os._exit(0)
