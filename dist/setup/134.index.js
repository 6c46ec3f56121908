export const id = 134;
export const ids = [134];
export const modules = {

/***/ 54134:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   installCli: () => (/* binding */ installCli)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(33838);
/* harmony import */ var _cli_installer__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(8407);
/* harmony import */ var _cli_manifest__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(67028);
/* harmony import */ var _cli_release__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(12620);
// build-push and bake without a setup step: the depot CLI is not on PATH, so the step installs it through setup's
// installer (the same manifest resolution, SHA-256 check and tool cache), says so in one line, and adds it to PATH
// for this step and the job's later ones. This module (and @actions/tool-cache with it) is loaded with a dynamic
// import only on that path (shared/depot.ts), so steps that find the CLI start no slower.




async function installCli(req, opts = {}) {
    _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .info */ .pq(`depot CLI not on PATH: installing ${(0,_cli_release__WEBPACK_IMPORTED_MODULE_3__/* .describeVersionSpec */ .T8)(req.version)} from ${(0,_cli_manifest__WEBPACK_IMPORTED_MODULE_2__/* .redactUrl */ .BO)(req.manifestUrl)} (no setup step needed)`);
    return _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .group */ .Os('Install depot', async () => {
        const installed = await new _cli_installer__WEBPACK_IMPORTED_MODULE_1__/* .Installer */ .P(opts).install(req.version, req.manifestUrl);
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .addPath */ .fM(installed.bin);
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .info */ .pq(`Added ${installed.bin} to PATH for this step and the job's later steps.`);
        return installed;
    });
}


/***/ })

};
