# Two targets for `depot bake`: each gets its own project cache key (its target name).
group "default" {
  targets = ["app", "worker"]
}

target "app" {
  context = "app"
}

target "worker" {
  context = "worker"
}
