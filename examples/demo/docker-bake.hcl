# Two targets, built and pushed together by actions/bake (scenario 3 of the end-to-end tests).
variable "REGISTRY" {
  default = "127.0.0.1:5000"
}
variable "TAG" {
  default = "latest"
}
group "default" {
  targets = ["app", "worker"]
}
target "app" {
  context   = "app"
  platforms = ["linux/amd64"]
  tags      = ["${REGISTRY}/demo/app:${TAG}"]
}
target "worker" {
  context   = "worker"
  platforms = ["linux/amd64"]
  tags      = ["${REGISTRY}/demo/worker:${TAG}"]
}
