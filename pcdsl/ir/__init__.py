"""The backend-independent symbolic IR: region graphs and the layer graph of a circuit."""
