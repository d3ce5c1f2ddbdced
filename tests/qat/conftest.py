import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """These networks are tiny: torch's intra-op threads only add overhead (ten times slower on a busy
    2-core machine). Training already runs on one thread; this covers inference and export too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
