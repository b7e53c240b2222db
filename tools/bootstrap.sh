#!/usr/bin/env bash
# One-time set-up of a machine without a ROS 2 distribution: system packages for offscreen
# rendering, a local virtual environment with real rclpy/Fast DDS from the ROS 2 wheels, and the
# package built into that environment as an ament prefix (the layout a ROS 2 install has):
#   lib/python3.11/site-packages/world_model_ros/msg   the messages, built with rosidl (CMake)
#   share/world_model_ros/{package.xml,launch,config,msg}, lib/world_model_ros/<executables>,
#   share/ament_index/resource_index/packages/world_model_ros, local_setup.bash, setup.bash
#                                                       (CMake, as colcon would install them)
#   the Python sources                                  (pip, editable: see "the package")
# Idempotent and fast the second time: each stage keeps a stamp with a hash of its inputs and
# runs again only when they changed (make setup after editing launch/, config/ or msg/, or
# after adding or removing a module).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${WMR_VENV:-.venv}"
[[ "$venv" = /* ]] || venv="$root/$venv"  # absolute: CMake runs from the build folder
build="$root/build/msgs"
stamps="$venv/.wmr-stamps"

# Inputs of each stage. "package" hashes the list of module files, not their contents: the
# editable install links every file, so edits take effect at once; new files need a relink.
deps_hash() {
  cat "$root/requirements.txt" "$root/tools/bootstrap.sh" | sha256sum | cut -d' ' -f1
}
prefix_hash() {
  (cd "$root" && find CMakeLists.txt package.xml msg launch config scripts resource \
      world_model_ros/__init__.py tools/bootstrap.sh -type f ! -name '*.pyc' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
package_hash() {
  (cd "$root" && { cat setup.py tools/bootstrap.sh;
    find world_model_ros -path '*/__pycache__' -prune -o -type f -print | LC_ALL=C sort; }) \
    | sha256sum | cut -d' ' -f1
}
stage_done() { [[ -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]; }
# The editable install's link tree lives in build/: gone with it (rm -rf build) means relink.
linked() {
  local pth
  for pth in "$venv"/lib/python3*/site-packages/__editable__.world_model_ros-*.pth; do
    [[ -f "$pth" && -d "$(cat "$pth")" ]] && return 0
  done
  return 1
}
want_deps="$(deps_hash)"
want_prefix="$(prefix_hash)"
want_package="$(package_hash)"
if stage_done deps "$want_deps" && stage_done prefix "$want_prefix" \
    && stage_done package "$want_package" && linked; then
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
  log "Python 3.11 is needed (the ROS 2 Kilted wheels and the torch build are for 3.11);" \
    "found $version at $(command -v "$python")" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
mkdir -p "$stamps"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" >&2; }
if ! stage_done deps "$want_deps"; then
  log "installing Python packages (first run: about a minute)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements.txt" \
    2> >(quiet_pip)
  echo "$want_deps" >"$stamps/deps"
fi

# --- messages, share/ and lib/world_model_ros/ (CMake, as colcon does) --------------------------
if ! stage_done prefix "$want_prefix"; then
  log "building messages (msg/) and installing share/ and lib/world_model_ros/ into $venv"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  mkdir -p "$build"
  (
    cd "$build"
    # AMENT_CMAKE_ENVIRONMENT_GENERATION writes the prefix's local_setup.* / setup.* (as in
    # /opt/ros/<distro>), so the venv works as a colcon underlay and can be sourced.
    cmake -S "$root" -B . "${generator[@]}" \
      -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
      -DPython3_EXECUTABLE="$venv/bin/python" -DWMR_INSTALL_PYTHON=OFF -DBUILD_TESTING=OFF \
      -DAMENT_CMAKE_ENVIRONMENT_GENERATION=ON \
      >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
    cmake --build . -j "$(nproc)" >"$build/build.log" 2>&1 \
      || { tail -50 "$build/build.log" >&2; exit 1; }
    # Files removed from launch/ or config/ since the last install must not linger there.
    rm -rf "$venv/share/world_model_ros/launch" "$venv/share/world_model_ros/config" \
      "$venv/lib/world_model_ros"
    cmake --install . >"$build/install.log" 2>&1 || { tail -20 "$build/install.log" >&2; exit 1; }
  )
  # ament_cmake_python registers the generated module as a distribution named world_model_ros;
  # pip would take that for an old install of this package and delete the messages with it.
  rm -rf "$site"/world_model_ros-*.egg-info
  # Nothing needs sourcing: every Python process of this venv (nodes, ros2, launch) finds the
  # prefix through the ament index, as after `source $venv/setup.bash`.
  cat >"$site/world_model_ros_ament_prefix.pth" <<'PTH'
import os, sys; _p = os.environ.get("AMENT_PREFIX_PATH", ""); sys.prefix in _p.split(os.pathsep) or os.environ.__setitem__("AMENT_PREFIX_PATH", os.pathsep.join(filter(None, [sys.prefix, _p])))
PTH
  # local_setup.sh runs _local_setup_util.py (plain Python) with the interpreter CMake found,
  # the venv's, which already has the venv on AMENT_PREFIX_PATH through that .pth and would
  # leave it out of the shell's: let the venv's base interpreter compute the commands instead.
  base_python="$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')"
  sed -i "s|^\(_ament_python_executable=\)\"$venv/bin/python\"|\1\"$base_python\"|" \
    "$venv/local_setup.sh"
  echo "$want_prefix" >"$stamps/prefix"
fi

# --- the package -----------------------------------------------------------------------------
# Editable in setuptools' strict mode: site-packages gets a folder of links to each source file
# (build/__editable__.*), never the repository root, so the repository's launch/ folder cannot
# shadow the `launch` package. Edits to a module take effect at once; a module added or
# removed is linked by the next `make setup` (make test and make demo run it). The generated
# world_model_ros.msg and the linked sources meet through pkgutil.extend_path (__init__.py).
if ! stage_done package "$want_package" || ! linked; then
  log "installing world_model_ros (editable, strict)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
    -e "$root" --config-settings editable_mode=strict 2> >(quiet_pip)
  echo "$want_package" >"$stamps/package"
fi

failed() { log "the environment does not import; see the messages above" >&2; exit 1; }
"$venv/bin/python" - <<'CHECK' || failed
import rclpy, world_model_ros.msg, world_model_ros.core  # noqa: F401
from ament_index_python.packages import get_package_share_directory
get_package_share_directory("world_model_ros")
CHECK
rm -f "$venv/.wmr-installed"  # the single stamp of earlier versions of this script
log "ready: $venv"
