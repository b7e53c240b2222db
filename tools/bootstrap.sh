#!/usr/bin/env bash
# One-time set-up of a machine without a ROS 2 distribution: system packages for offscreen
# rendering, a local virtual environment with real rclpy/Fast DDS from the ROS 2 wheels, the
# package's messages built with rosidl into that environment, and the package itself.
# Idempotent: a stamp records a hash of the inputs, so a second run costs nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${WMR_VENV:-.venv}"
[[ "$venv" = /* ]] || venv="$root/$venv"  # absolute: CMake runs from the build folder
build="$root/build/msgs"
stamp="$venv/.wmr-installed"

inputs_hash() {
  cat "$root/requirements.txt" "$root/CMakeLists.txt" "$root/package.xml" "$root/setup.py" \
      "$root"/msg/*.msg "$root/tools/bootstrap.sh" | sha256sum | cut -d' ' -f1
}
want="$(inputs_hash)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# --- system packages -----------------------------------------------------------------------
# MuJoCo renders offscreen through EGL (Mesa llvmpipe) or OSMesa; the compilers and CMake
# build the messages.
need_apt=()
ldconfig -p | grep -q 'libEGL.so.1' || need_apt+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
ldconfig -p | grep -q 'libOSMesa.so' || need_apt+=(libosmesa6)
ldconfig -p | grep -q 'libGL.so.1' || need_apt+=(libgl1)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    log "missing system packages (install them as root): ${need_apt[*]}" >&2
    exit 1
  fi
fi

# --- virtual environment -------------------------------------------------------------------
python="${WMR_PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null; then python="$candidate"; break; fi
  done
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$version" != "3.11" ]]; then
  log "Python 3.11 is needed (the ROS 2 Kilted wheels and the torch build are for 3.11); found $version at $(command -v "$python")" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
log "installing Python packages (first run: about a minute)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# --- messages ------------------------------------------------------------------------------
log "building messages (msg/) into the virtual environment"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
mkdir -p "$build"
(
  cd "$build"
  cmake -S "$root" -B . "${generator[@]}" \
    -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$venv/bin/python" -DWMR_INSTALL_PYTHON=OFF -DBUILD_TESTING=OFF \
    >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
  cmake --build . -j "$(nproc)" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }
  cmake --install . >"$build/install.log" 2>&1 || { tail -20 "$build/install.log" >&2; exit 1; }
)
# ament_cmake_python registers the generated module as a distribution named world_model_ros;
# pip would take that for an old install of this package and delete the messages with it.
rm -rf "$venv"/lib/python3.11/site-packages/world_model_ros-*.egg-info

# --- the package ---------------------------------------------------------------------------
# compat mode puts the source tree on sys.path (a .pth line), so the hand-written modules and
# the generated world_model_ros.msg meet in one package through pkgutil.extend_path.
log "installing world_model_ros (editable)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  -e "$root" --config-settings editable_mode=compat 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

"$venv/bin/python" -c "import rclpy, world_model_ros.msg, world_model_ros.core" \
  || { log "the environment does not import; see the messages above" >&2; exit 1; }
echo "$want" >"$stamp"
log "ready: $venv"
