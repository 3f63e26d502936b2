"""fmlc: fixed-point ML compiler."""
