print("zmq")
