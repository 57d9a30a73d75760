// Placeholder: replaced by the etcd harness work.
