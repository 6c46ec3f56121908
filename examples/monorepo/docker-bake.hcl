# The same three images as bake targets (the build-monorepo workflow's bake-file input): each target is an image.
group "default" {
  targets = ["api", "web", "worker"]
}
target "api" {
  context    = "."
  dockerfile = "services/api/Dockerfile"
}
target "web" {
  context    = "."
  dockerfile = "services/web/Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
}
target "worker" {
  context    = "."
  dockerfile = "services/worker/Dockerfile"
}
